/** What every restore step is given, and the SNS notice several of them send. */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { awsCall } from '../../shared/aws-errors.ts';
import type { IncidentStore } from '../incidents.ts';
import type { RevocationDeps } from '../revocations.ts';
import type { RootVolumeReplacer } from '../root-volume.ts';

export interface RestoreDeps {
  readonly ec2: EC2Client;
  readonly s3?: S3Client;
  readonly sns?: SNSClient;
  readonly topicArn?: string;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  readonly store?: IncidentStore;
  readonly replacer?: RootVolumeReplacer;
  /** The session role's revocation set (the release turns the instance's entry into deny-before-revocation). */
  readonly revocations?: RevocationDeps;
  readonly now?: () => Date;
}

/** Publishes a notice to the topic; nothing when there is none. */
export async function notify(deps: RestoreDeps, subject: string, lines: string[]): Promise<void> {
  const { sns, topicArn } = deps;
  if (!sns || !topicArn) return;
  await awsCall('sns:Publish', () =>
    sns.send(new PublishCommand({ TopicArn: topicArn, Subject: subject.slice(0, 99), Message: lines.join('\n') })),
  );
}
