import { Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { SnapshotWorkflow } from '../../workflows/snapshot.ts';
import { SessionNetwork } from '../constructs/network.ts';
import type { AppConfig } from '../config.ts';

export interface ControlPlaneStackProps extends StackProps {
  readonly config: AppConfig;
  readonly dataKey: kms.IKey;
}

/** Stateless: functions, workflows and rules. Safe to destroy and redeploy. */
export class ControlPlaneStack extends Stack {
  readonly alarmTopic: sns.Topic;
  readonly snapshot: SnapshotWorkflow;
  readonly network: SessionNetwork;

  constructor(scope: Construct, id: string, props: ControlPlaneStackProps) {
    super(scope, id, props);
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'ai-desktop-ops alarms',
      masterKey: props.dataKey,
      enforceSSL: true,
    });
    // CloudWatch alarms publish to this topic; the key must let them.
    props.dataKey.grantEncryptDecrypt(new iam.ServicePrincipal('cloudwatch.amazonaws.com'));
    if (props.config.alarmEmail) this.alarmTopic.addSubscription(new subs.EmailSubscription(props.config.alarmEmail));

    this.network = new SessionNetwork(this, 'Network');
    this.snapshot = new SnapshotWorkflow(this, 'Snapshot', { alarmTopic: this.alarmTopic });
  }
}
