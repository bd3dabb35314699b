/**
 * Creates in moto, from the synthesized templates, the resources the workflows
 * need, with the same names and settings (buckets with Object Lock, keys,
 * tables, queues, topics, secrets, parameters, VPC, subnets, security groups,
 * launch templates, roles, event buses and rules), in dependency order, one
 * provisioner per resource type (./provisioners/). Lambda functions and state
 * machines are not created in moto: the local runtime runs them in-process.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { LOCAL_REGION } from '../emulator/moto.ts';
import { PROVISIONERS, unemulated } from './provisioners/index.ts';
import type { Clients, Provisioned } from './provisioners/types.ts';
import { creationOrder, type ResolveContext, resolve, type SynthesizedStack } from './template.ts';

export async function provision(stacks: readonly SynthesizedStack[], endpoint: string): Promise<Provisioned> {
  const cfg = awsClientConfig({ endpoint, region: LOCAL_REGION });
  const c: Clients = {
    s3: new S3Client(cfg),
    kms: new KMSClient(cfg),
    ddb: new DynamoDBClient(cfg),
    sqs: new SQSClient(cfg),
    sns: new SNSClient(cfg),
    sm: new SecretsManagerClient(cfg),
    ssm: new SSMClient(cfg),
    ec2: new EC2Client(cfg),
    iam: new IAMClient(cfg),
    eb: new EventBridgeClient(cfg),
  };
  const out: Provisioned = {
    resources: new Map(),
    exports: new Map(),
    routes: [],
    functions: new Map(),
    stateMachines: new Map(),
    eventSources: [],
    schedules: [],
    skipped: new Map(),
  };
  for (const stack of stacks) {
    const ctx: ResolveContext = { resources: out.resources, exports: out.exports, stackName: stack.stackName };
    for (const id of creationOrder(stack.template)) {
      const raw = stack.template.Resources[id]!;
      const p = (raw.Properties ? resolve(raw.Properties, ctx) : {}) as Record<string, any>;
      const make = Object.hasOwn(PROVISIONERS, raw.Type) ? PROVISIONERS[raw.Type]! : unemulated;
      try {
        out.resources.set(id, await make({ c, out, stack, id, type: raw.Type, p, raw }));
      } catch (e) {
        throw new Error(
          `local provisioning of ${stack.stackName}/${id} (${raw.Type}) failed: ${(e as Error).message}`,
          {
            cause: e,
          },
        );
      }
    }
    for (const o of Object.values(stack.template.Outputs ?? {})) {
      if (o.Export) out.exports.set(String(resolve(o.Export.Name, ctx)), String(resolve(o.Value, ctx)));
    }
  }
  return out;
}
