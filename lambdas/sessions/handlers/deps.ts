/** Clients and config the session handlers build from their environment (module scope: reused while warm). */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendTaskHeartbeatCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SfnTaskCallbacks } from '../../attestation/step.ts';
import { awsClientConfig } from '../../shared/clients.ts';
import { type AuditSink, eventBridgeSink } from '../audit.ts';
import { SessionTable } from '../table.ts';

export function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

let cache: Record<string, unknown> = {};
function once<T>(key: string, make: () => T): T {
  if (!(key in cache)) cache[key] = make();
  return cache[key] as T;
}
/** Tests in one process run several functions with different environments. */
export function resetClients(): void {
  cache = {};
}

export const ddb = () => once('ddb', () => new DynamoDBClient(awsClientConfig()));
export const ec2 = () => once('ec2', () => new EC2Client(awsClientConfig()));
export const ssm = () => once('ssm', () => new SSMClient(awsClientConfig()));
export const secrets = () => once('sm', () => new SecretsManagerClient(awsClientConfig()));
export const sfn = () => once('sfn', () => new SFNClient(awsClientConfig()));
const eb = () => once('eb', () => new EventBridgeClient(awsClientConfig()));

export const table = () => new SessionTable(ddb(), env('SESSION_TABLE'));
export const audit = (): AuditSink => eventBridgeSink(eb(), env('AUDIT_BUS_NAME'));

export class SfnCallbacksWithHeartbeat extends SfnTaskCallbacks {
  readonly #sfn: SFNClient;
  constructor(client: SFNClient) {
    super(client);
    this.#sfn = client;
  }
  async heartbeat(taskToken: string): Promise<void> {
    await this.#sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
  }
}
