/** Restore workflow handlers: one export per task (each is its own function with its own role). */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { awsClientConfig } from '../../shared/clients.ts';
import { makeHandler } from '../../shared/middleware.ts';
import {
  ApprovalRequestInput,
  advanceReplacement,
  CheckInstanceInput,
  checkInstance,
  FinishInput,
  KeepInput,
  keepQuarantined,
  PlanInput,
  planRestore,
  ReplaceInput,
  type RestoreDeps,
  release,
  requestApproval,
  terminate,
} from '../restore.ts';
import { rootVolumeReplacer } from '../root-volume.ts';
import { dynamoIncidentStore } from '../trigger.ts';
import { busName, topicArn } from './env.ts';

const ec2 = new EC2Client(awsClientConfig());
const s3 = new S3Client(awsClientConfig());
const sns = new SNSClient(awsClientConfig());
const ddb = new DynamoDBClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());

function deps(): RestoreDeps {
  const table = process.env.INCIDENT_TABLE;
  return {
    ec2,
    s3,
    sns,
    topicArn: topicArn(),
    eventBridge,
    busName: busName(),
    store: table ? dynamoIncidentStore(ddb, table) : undefined,
    replacer: rootVolumeReplacer(),
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
  core: (i) => checkInstance({ ...deps(), quarantineGroupId: process.env.QUARANTINE_GROUP_ID ?? '' }, i),
});
export const releaseHandler = makeHandler({
  inputName: 'release input',
  input: FinishInput,
  core: (i) => release(deps(), i),
});
export const terminateHandler = makeHandler({
  inputName: 'terminate input',
  input: FinishInput,
  core: (i) => terminate(deps(), i),
});
export const keep = makeHandler({
  inputName: 'keep quarantined input',
  input: KeepInput,
  core: (i) => keepQuarantined(deps(), i),
});
