/** Clients and config the session handlers build from their environment (module scope: reused while warm). */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendTaskHeartbeatCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SfnTaskCallbacks } from '../../attestation/step.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { awsClientConfig } from '../../shared/clients.ts';
import { requireEnv } from '../../shared/env.ts';
import { type AuditSink, eventBridgeSink } from '../audit.ts';
import { SessionTable } from '../table.ts';

const cache: Record<string, unknown> = {};
function once<T>(key: string, make: () => T): T {
  if (!(key in cache)) cache[key] = make();
  return cache[key] as T;
}

export const ddb = () => once('ddb', () => new DynamoDBClient(awsClientConfig()));
export const ec2 = () => once('ec2', () => new EC2Client(awsClientConfig()));
export const ssm = () => once('ssm', () => new SSMClient(awsClientConfig()));
export const secrets = () => once('sm', () => new SecretsManagerClient(awsClientConfig()));
export const sfn = () => once('sfn', () => new SFNClient(awsClientConfig()));
const eb = () => once('eb', () => new EventBridgeClient(awsClientConfig()));

export const table = () => new SessionTable(ddb(), requireEnv('SESSION_TABLE'));
export const audit = (): AuditSink => eventBridgeSink(eb(), requireEnv('AUDIT_BUS_NAME'));

export class SfnCallbacksWithHeartbeat extends SfnTaskCallbacks {
  readonly #sfn: SFNClient;
  constructor(client: SFNClient) {
    super(client);
    this.#sfn = client;
  }
  async heartbeat(taskToken: string): Promise<void> {
    await awsCall('SendTaskHeartbeat', () => this.#sfn.send(new SendTaskHeartbeatCommand({ taskToken })));
  }
}
