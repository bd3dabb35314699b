/**
 * The contract between the provisioning loop (../provision.ts) and the
 * provisioners: one function per CloudFormation resource type, given the
 * resource's resolved properties and the SDK clients, returning its physical
 * id and attributes (what Ref and Fn::GetAtt resolve to).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../emulator/moto.ts';
import type { CfnResource, Physical, SynthesizedStack } from '../template.ts';

export interface LocalRoute {
  /** EventBridge rule → in-process target (Lambda function or state machine). */
  readonly ruleLogicalId: string;
  readonly busName: string;
  readonly pattern: unknown;
  readonly targetArn: string;
  readonly input?: string;
  readonly inputPath?: string;
  readonly inputTransformer?: unknown;
}

/** A Lambda event-source mapping (SQS → function), delivered by the local runtime. */
export interface LocalEventSource {
  readonly logicalId: string;
  readonly functionName: string;
  readonly sourceArn: string;
  readonly batchSize: number;
}

/** A scheduled rule with an in-process target, fired by the local runtime. */
export interface LocalSchedule {
  readonly ruleLogicalId: string;
  readonly expression: string;
  readonly targetArn: string;
  readonly input?: string;
}

export interface LocalFunction {
  readonly stackName: string;
  readonly logicalId: string;
  readonly resource: Record<string, unknown>;
}

export interface LocalStateMachine {
  readonly stackName: string;
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly definition: unknown;
}

export interface Provisioned {
  readonly resources: Map<string, Physical>;
  readonly exports: Map<string, string>;
  readonly routes: LocalRoute[];
  /** Every Lambda function, by logical id (its local name). */
  readonly functions: Map<string, LocalFunction>;
  /** Every state machine, by name. */
  readonly stateMachines: Map<string, LocalStateMachine>;
  readonly eventSources: LocalEventSource[];
  readonly schedules: LocalSchedule[];
  /** Resource types seen but not made in moto (reported in the README's table). */
  readonly skipped: Map<string, number>;
}

export interface Clients {
  readonly s3: S3Client;
  readonly kms: KMSClient;
  readonly ddb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly sns: SNSClient;
  readonly sm: SecretsManagerClient;
  readonly ssm: SSMClient;
  readonly ec2: EC2Client;
  readonly iam: IAMClient;
  readonly eb: EventBridgeClient;
}

export interface ProvisionRequest {
  readonly c: Clients;
  /** What the runtime runs in-process (functions, machines, routes, …) is registered here. */
  readonly out: Provisioned;
  readonly stack: SynthesizedStack;
  readonly id: string;
  readonly type: string;
  /** The resource's properties with every intrinsic resolved. */
  readonly p: Record<string, any>;
  readonly raw: CfnResource;
}

export type Provisioner = (r: ProvisionRequest) => Promise<Physical>;

/** Provisioners by CloudFormation resource type. */
export type ProvisionerTable = Readonly<Record<string, Provisioner>>;

export const localArn = (svc: string, res: string, region = LOCAL_REGION) =>
  `arn:aws:${svc}:${region}:${LOCAL_ACCOUNT}:${res}`;

export function str(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}
