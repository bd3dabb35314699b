/**
 * Creates in moto, from the synthesized templates, the resources the workflows
 * need, with the same names and settings (buckets with Object Lock, keys,
 * tables, queues, topics, secrets, parameters, VPC, subnets, security groups,
 * launch templates, roles, event buses and rules). Lambda functions and state
 * machines are not created in moto: the local runtime runs them in-process.
 */

import { randomBytes } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
  RevokeSecurityGroupEgressCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import { CreateAliasCommand, CreateKeyCommand, type KeySpec, type KeyUsageType, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateBucketCommand,
  type ObjectLockRetentionMode,
  PutBucketVersioningCommand,
  PutObjectLockConfigurationCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../emulator/moto.ts';
import {
  type CfnTemplate,
  creationOrder,
  type Physical,
  type ResolveContext,
  resolve,
  type SynthesizedStack,
} from './template.ts';

const arn = (svc: string, res: string, region = LOCAL_REGION) => `arn:aws:${svc}:${region}:${LOCAL_ACCOUNT}:${res}`;

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

export interface Provisioned {
  readonly resources: Map<string, Physical>;
  readonly exports: Map<string, string>;
  readonly routes: LocalRoute[];
  /** Stack and logical id of every Lambda function and state machine. */
  readonly functions: Map<string, { stackName: string; logicalId: string; resource: Record<string, unknown> }>;
  readonly stateMachines: Map<
    string,
    { stackName: string; logicalId: string; name: string; arn: string; definition: unknown }
  >;
  /** Lambda event-source mappings (SQS → function): delivered by LocalRuntime.pumpEventSources. */
  readonly eventSources: { logicalId: string; functionName: string; sourceArn: string; batchSize: number }[];
  /** Scheduled rules with in-process targets: fired on demand by LocalRuntime.fireSchedule. */
  readonly schedules: { ruleLogicalId: string; expression: string; targetArn: string; input?: string }[];
  /** Resource types seen but not made in moto (reported in the README's table). */
  readonly skipped: Map<string, number>;
}

function str(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

export async function provision(stacks: readonly SynthesizedStack[], endpoint: string): Promise<Provisioned> {
  const cfg = awsClientConfig({ endpoint, region: LOCAL_REGION });
  const c = {
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
      const r = stack.template.Resources[id]!;
      const props = (r.Properties ? resolve(r.Properties, ctx) : {}) as Record<string, any>;
      try {
        const p = await make(c, out, stack, id, r.Type, props, r);
        out.resources.set(id, p);
      } catch (e) {
        throw new Error(`local provisioning of ${stack.stackName}/${id} (${r.Type}) failed: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
    for (const o of Object.values(stack.template.Outputs ?? {})) {
      if (o.Export) out.exports.set(String(resolve(o.Export.Name, ctx)), String(resolve(o.Value, ctx)));
    }
  }
  return out;
}

type Clients = {
  s3: S3Client;
  kms: KMSClient;
  ddb: DynamoDBClient;
  sqs: SQSClient;
  sns: SNSClient;
  sm: SecretsManagerClient;
  ssm: SSMClient;
  ec2: EC2Client;
  iam: IAMClient;
  eb: EventBridgeClient;
};

async function make(
  c: Clients,
  out: Provisioned,
  stack: SynthesizedStack,
  id: string,
  type: string,
  p: Record<string, any>,
  raw: CfnTemplate['Resources'][string],
): Promise<Physical> {
  const lc = id.toLowerCase();
  switch (type) {
    case 'AWS::KMS::Key': {
      const k = await c.kms.send(
        new CreateKeyCommand({
          Description: str(p.Description),
          KeySpec: (p.KeySpec ?? 'SYMMETRIC_DEFAULT') as KeySpec,
          KeyUsage: (p.KeyUsage ?? 'ENCRYPT_DECRYPT') as KeyUsageType,
          Policy: p.KeyPolicy ? JSON.stringify(p.KeyPolicy) : undefined,
        }),
      );
      const keyId = k.KeyMetadata!.KeyId!;
      return { type, ref: keyId, attrs: { Arn: k.KeyMetadata!.Arn!, KeyId: keyId } };
    }
    case 'AWS::KMS::Alias': {
      await c.kms.send(new CreateAliasCommand({ AliasName: p.AliasName, TargetKeyId: p.TargetKeyId }));
      return { type, ref: p.AliasName, attrs: {} };
    }
    case 'AWS::S3::Bucket': {
      const name = String(p.BucketName ?? `aidops-${lc}`.slice(0, 63));
      await c.s3.send(
        new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: p.ObjectLockEnabled === true }),
      );
      if (p.VersioningConfiguration?.Status === 'Enabled' && p.ObjectLockEnabled !== true) {
        await c.s3.send(
          new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }),
        );
      }
      const rule = p.ObjectLockConfiguration?.Rule?.DefaultRetention;
      if (p.ObjectLockEnabled === true && rule) {
        await c.s3.send(
          new PutObjectLockConfigurationCommand({
            Bucket: name,
            ObjectLockConfiguration: {
              ObjectLockEnabled: 'Enabled',
              Rule: {
                DefaultRetention: {
                  Mode: rule.Mode as ObjectLockRetentionMode,
                  Days: rule.Days !== undefined ? Number(rule.Days) : undefined,
                  Years: rule.Years !== undefined ? Number(rule.Years) : undefined,
                },
              },
            },
          }),
        );
      }
      return {
        type,
        ref: name,
        attrs: {
          Arn: `arn:aws:s3:::${name}`,
          DomainName: `${name}.s3.amazonaws.com`,
          RegionalDomainName: `${name}.s3.${LOCAL_REGION}.amazonaws.com`,
        },
      };
    }
    case 'AWS::DynamoDB::Table':
    case 'AWS::DynamoDB::GlobalTable': {
      const name = String(p.TableName ?? id);
      await c.ddb.send(
        new CreateTableCommand({
          TableName: name,
          KeySchema: p.KeySchema,
          AttributeDefinitions: p.AttributeDefinitions,
          BillingMode: 'PAY_PER_REQUEST',
          GlobalSecondaryIndexes: p.GlobalSecondaryIndexes?.map((g: any) => ({
            IndexName: g.IndexName,
            KeySchema: g.KeySchema,
            Projection: g.Projection,
          })),
        }),
      );
      if (p.TimeToLiveSpecification?.Enabled) {
        await c.ddb.send(
          new UpdateTimeToLiveCommand({
            TableName: name,
            TimeToLiveSpecification: { Enabled: true, AttributeName: p.TimeToLiveSpecification.AttributeName },
          }),
        );
      }
      return {
        type,
        ref: name,
        attrs: { Arn: arn('dynamodb', `table/${name}`), StreamArn: arn('dynamodb', `table/${name}/stream/local`) },
      };
    }
    case 'AWS::SQS::Queue': {
      const name = String(p.QueueName ?? id);
      const attributes: Record<string, string> = {};
      if (p.RedrivePolicy) attributes.RedrivePolicy = JSON.stringify(p.RedrivePolicy);
      if (p.VisibilityTimeout !== undefined) attributes.VisibilityTimeout = String(p.VisibilityTimeout);
      if (p.FifoQueue) attributes.FifoQueue = 'true';
      const q = await c.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
      const a = await c.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl!, AttributeNames: ['QueueArn'] }),
      );
      return {
        type,
        ref: q.QueueUrl!,
        attrs: { Arn: a.Attributes!.QueueArn!, QueueName: name, QueueUrl: q.QueueUrl! },
      };
    }
    case 'AWS::SNS::Topic': {
      const t = await c.sns.send(new CreateTopicCommand({ Name: String(p.TopicName ?? id) }));
      return { type, ref: t.TopicArn!, attrs: { TopicArn: t.TopicArn!, TopicName: String(p.TopicName ?? id) } };
    }
    case 'AWS::SecretsManager::Secret': {
      const s = await c.sm.send(
        new CreateSecretCommand({
          Name: String(p.Name ?? id),
          SecretString: str(p.SecretString) ?? generateSecretString(p.GenerateSecretString),
          Description: str(p.Description),
        }),
      );
      return { type, ref: s.ARN!, attrs: { Id: s.ARN! } };
    }
    case 'AWS::SSM::Parameter': {
      const name = String(p.Name ?? `/aidops/${id}`);
      await c.ssm.send(
        new PutParameterCommand({ Name: name, Value: String(p.Value), Type: p.Type ?? 'String', Overwrite: true }),
      );
      return { type, ref: name, attrs: { Type: String(p.Type ?? 'String'), Value: String(p.Value) } };
    }
    case 'AWS::EC2::VPC': {
      const v = await c.ec2.send(new CreateVpcCommand({ CidrBlock: p.CidrBlock }));
      return {
        type,
        ref: v.Vpc!.VpcId!,
        attrs: { VpcId: v.Vpc!.VpcId!, CidrBlock: p.CidrBlock, DefaultSecurityGroup: 'sg-local-default' },
      };
    }
    case 'AWS::EC2::Subnet': {
      const s = await c.ec2.send(
        new CreateSubnetCommand({ VpcId: p.VpcId, CidrBlock: p.CidrBlock, AvailabilityZone: p.AvailabilityZone }),
      );
      return {
        type,
        ref: s.Subnet!.SubnetId!,
        attrs: { SubnetId: s.Subnet!.SubnetId!, AvailabilityZone: String(p.AvailabilityZone) },
      };
    }
    case 'AWS::EC2::SecurityGroup': {
      const g = await c.ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: String(p.GroupName ?? `${stack.stackName}-${id}`).slice(0, 255),
          Description: String(p.GroupDescription ?? id),
          VpcId: p.VpcId,
        }),
      );
      const gid = g.GroupId!;
      if (Array.isArray(p.SecurityGroupEgress)) {
        // An explicit egress list replaces the default allow-all, as in CloudFormation.
        await c.ec2.send(
          new RevokeSecurityGroupEgressCommand({
            GroupId: gid,
            IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
          }),
        );
        for (const e of p.SecurityGroupEgress)
          await c.ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: gid, IpPermissions: [perm(e)] }));
      }
      for (const i of p.SecurityGroupIngress ?? []) {
        await c.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: gid, IpPermissions: [perm(i)] }));
      }
      return { type, ref: gid, attrs: { GroupId: gid, VpcId: String(p.VpcId ?? '') } };
    }
    case 'AWS::EC2::SecurityGroupEgress': {
      await c.ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: p.GroupId, IpPermissions: [perm(p)] }));
      return { type, ref: `${id}`, attrs: {} };
    }
    case 'AWS::EC2::SecurityGroupIngress': {
      await c.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: p.GroupId, IpPermissions: [perm(p)] }));
      return { type, ref: `${id}`, attrs: {} };
    }
    case 'AWS::EC2::LaunchTemplate': {
      const name = String(p.LaunchTemplateName ?? `${stack.stackName}-${id}`).slice(0, 128);
      const lt = await c.ec2.send(
        new CreateLaunchTemplateCommand({ LaunchTemplateName: name, LaunchTemplateData: p.LaunchTemplateData }),
      );
      const ltId = lt.LaunchTemplate!.LaunchTemplateId!;
      return {
        type,
        ref: ltId,
        attrs: {
          LaunchTemplateId: ltId,
          LaunchTemplateName: name,
          LatestVersionNumber: '1',
          DefaultVersionNumber: '1',
        },
      };
    }
    case 'AWS::IAM::Role': {
      const name = String(p.RoleName ?? id).slice(0, 64);
      const r = await c.iam.send(
        new CreateRoleCommand({
          RoleName: name,
          AssumeRolePolicyDocument: JSON.stringify(p.AssumeRolePolicyDocument ?? {}),
        }),
      );
      return { type, ref: name, attrs: { Arn: r.Role!.Arn!, RoleId: r.Role!.RoleId! } };
    }
    case 'AWS::IAM::InstanceProfile': {
      const name = String(p.InstanceProfileName ?? id).slice(0, 128);
      const ip = await c.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
      for (const role of p.Roles ?? [])
        await c.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: role }));
      return { type, ref: name, attrs: { Arn: ip.InstanceProfile!.Arn! } };
    }
    case 'AWS::Events::EventBus': {
      const b = await c.eb.send(new CreateEventBusCommand({ Name: String(p.Name) }));
      return { type, ref: String(p.Name), attrs: { Arn: b.EventBusArn!, Name: String(p.Name) } };
    }
    case 'AWS::Events::Rule': {
      const name = String(p.Name ?? id).slice(0, 64);
      const bus = String(p.EventBusName ?? 'default')
        .split('/')
        .pop()!;
      await c.eb.send(
        new PutRuleCommand({
          Name: name,
          EventBusName: bus,
          EventPattern: p.EventPattern ? JSON.stringify(p.EventPattern) : undefined,
          ScheduleExpression: p.ScheduleExpression,
          State: p.State ?? 'ENABLED',
        }),
      );
      const sqsTargets = [];
      for (const t of p.Targets ?? []) {
        const tArn = String(t.Arn);
        if (tArn.includes(':sqs:') || tArn.includes(':sns:')) {
          sqsTargets.push({ Id: String(t.Id), Arn: tArn, Input: t.Input, InputPath: t.InputPath });
        } else if (p.ScheduleExpression) {
          out.schedules.push({
            ruleLogicalId: id,
            expression: String(p.ScheduleExpression),
            targetArn: tArn,
            input: t.Input,
          });
        } else if (p.EventPattern) {
          out.routes.push({
            ruleLogicalId: id,
            busName: bus,
            pattern: p.EventPattern,
            targetArn: tArn,
            input: t.Input,
            inputPath: t.InputPath,
            inputTransformer: t.InputTransformer,
          });
        }
      }
      if (sqsTargets.length)
        await c.eb.send(new PutTargetsCommand({ Rule: name, EventBusName: bus, Targets: sqsTargets }));
      return { type, ref: name, attrs: { Arn: arn('events', `rule/${bus === 'default' ? '' : `${bus}/`}${name}`) } };
    }
    case 'AWS::Lambda::EventSourceMapping': {
      out.eventSources.push({
        logicalId: id,
        functionName: String(p.FunctionName),
        sourceArn: String(p.EventSourceArn),
        batchSize: Number(p.BatchSize ?? 10),
      });
      return { type, ref: id, attrs: {} };
    }
    case 'AWS::Lambda::Function': {
      out.functions.set(id, {
        stackName: stack.stackName,
        logicalId: id,
        resource: raw as unknown as Record<string, unknown>,
      });
      return { type, ref: id, attrs: { Arn: arn('lambda', `function:${id}`) } };
    }
    case 'AWS::StepFunctions::StateMachine': {
      const name = String(p.StateMachineName ?? id);
      const smArn = arn('states', `stateMachine:${name}`);
      let def = typeof p.DefinitionString === 'string' ? JSON.parse(p.DefinitionString) : p.Definition;
      if (p.DefinitionSubstitutions) {
        let s = JSON.stringify(def);
        for (const [k, v] of Object.entries(p.DefinitionSubstitutions as Record<string, unknown>))
          s = s.split(`\${${k}}`).join(String(v));
        def = JSON.parse(s);
      }
      out.stateMachines.set(name, { stackName: stack.stackName, logicalId: id, name, arn: smArn, definition: def });
      return { type, ref: smArn, attrs: { Arn: smArn, Name: name } };
    }
    case 'AWS::Logs::LogGroup':
      return {
        type,
        ref: String(p.LogGroupName ?? `/local/${id}`),
        attrs: { Arn: arn('logs', `log-group:${String(p.LogGroupName ?? `/local/${id}`)}:*`) },
      };
    default: {
      out.skipped.set(type, (out.skipped.get(type) ?? 0) + 1);
      return {
        type,
        ref: id,
        attrs: { Arn: arn('local', `${type.replace(/::/g, '-').toLowerCase()}/${id}`), Name: id, Id: id },
      };
    }
  }
}

function perm(e: any) {
  return {
    IpProtocol: String(e.IpProtocol),
    FromPort: e.FromPort !== undefined ? Number(e.FromPort) : undefined,
    ToPort: e.ToPort !== undefined ? Number(e.ToPort) : undefined,
    IpRanges: e.CidrIp ? [{ CidrIp: e.CidrIp, Description: e.Description }] : undefined,
    Ipv6Ranges: e.CidrIpv6 ? [{ CidrIpv6: e.CidrIpv6 }] : undefined,
    PrefixListIds: e.DestinationPrefixListId ? [{ PrefixListId: e.DestinationPrefixListId }] : undefined,
    UserIdGroupPairs:
      e.DestinationSecurityGroupId || e.SourceSecurityGroupId
        ? [{ GroupId: e.DestinationSecurityGroupId ?? e.SourceSecurityGroupId }]
        : undefined,
  };
}

/** What CloudFormation's GenerateSecretString would make: random, of the asked length and alphabet. */
function generateSecretString(g: any): string {
  const length = Number(g?.PasswordLength ?? 32);
  let alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  if (!g?.ExcludePunctuation) alphabet += '!#$%&()*+,-.:;<=>?@[]^_{|}~';
  if (g?.ExcludeCharacters) alphabet = [...alphabet].filter((c) => !String(g.ExcludeCharacters).includes(c)).join('');
  const bytes = randomBytes(length);
  const value = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
  if (g?.SecretStringTemplate && g?.GenerateStringKey) {
    return JSON.stringify({ ...JSON.parse(String(g.SecretStringTemplate)), [String(g.GenerateStringKey)]: value });
  }
  return value;
}
