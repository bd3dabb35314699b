/** Restore workflow handlers: one export per task (each is its own function with its own role). */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { dynamoIncidentStore } from '../incidents.ts';
import { ApprovalRequestInput, KeepInput, keepQuarantined, requestApproval } from '../restore/approval.ts';
import { CheckInstanceInput, checkInstance } from '../restore/check.ts';
import type { RestoreDeps } from '../restore/deps.ts';
import { PlanInput, planRestore } from '../restore/plan.ts';
import { ReleaseInput, release } from '../restore/release.ts';
import { advanceReplacement, ReplaceInput } from '../restore/replace.ts';
import { TerminateInput, terminate } from '../restore/terminate.ts';
import { rootVolumeReplacer } from '../root-volume.ts';

const ec2 = new EC2Client(awsClientConfig());
const s3 = new S3Client(awsClientConfig());
const sns = new SNSClient(awsClientConfig());
const ddb = new DynamoDBClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());
const iam = new IAMClient(awsClientConfig());

function deps(): RestoreDeps {
  return {
    ec2,
    s3,
    sns,
    topicArn: requireEnv('NOTIFY_TOPIC_ARN'),
    eventBridge,
    busName: requireEnv('AUDIT_BUS_NAME'),
    store: dynamoIncidentStore(ddb, requireEnv('INCIDENT_TABLE')),
    replacer: rootVolumeReplacer(),
    revocations: {
      iam,
      ddb,
      table: requireEnv('INCIDENT_TABLE'),
      windowMs: numberEnv('REVOCATION_WINDOW_SECONDS', 43_200) * 1000,
    },
  };
}

export const plan = makeHandler({
  inputName: 'restore workflow input',
  input: PlanInput,
  core: (i) => planRestore(deps(), i),
});
export const approval = makeHandler({
  inputName: 'approval request',
  input: ApprovalRequestInput,
  core: (i) => requestApproval(deps(), i),
});
export const replace = makeHandler({
  inputName: 'replace input',
  input: ReplaceInput,
  core: (i) => advanceReplacement(deps(), i),
});
export const check = makeHandler({
  inputName: 'instance check input',
  input: CheckInstanceInput,
  core: (i) => checkInstance({ ...deps(), quarantineGroupId: requireEnv('QUARANTINE_GROUP_ID') }, i),
});
export const releaseHandler = makeHandler({
  inputName: 'release input',
  input: ReleaseInput,
  core: (i) => release(deps(), i),
});
export const terminateHandler = makeHandler({
  inputName: 'terminate input',
  input: TerminateInput,
  core: (i) => terminate(deps(), i),
});
export const keep = makeHandler({
  inputName: 'keep quarantined input',
  input: KeepInput,
  core: (i) => keepQuarantined(deps(), i),
});
