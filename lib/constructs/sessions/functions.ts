/**
 * The session workflow's functions (admit, nonce, stage secrets, launch, record,
 * teardown), each granted exactly what its step does, with the cdk-nag
 * acknowledgement of every wildcard next to the statement that has it.
 */
import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { SessionsConfig } from '../../../lambdas/sessions/tiers.ts';
import type { SessionWorkflowFunctions } from '../../../workflows/session.ts';
import { acknowledge, grantAcknowledged } from '../../nag.ts';
import { AidopsFunction } from '../function.ts';
import { ec2Arn, ec2Arns, parameterArn, secretArn } from './arns.ts';
import type { SessionProfiles } from './profiles.ts';

export interface SessionFunctionsProps {
  readonly config: SessionsConfig;
  readonly profiles: SessionProfiles;
  /** Sessions launch into its isolated subnets. */
  readonly vpc: ec2.IVpc;
  readonly table: dynamodb.ITable;
  readonly auditBus: events.IEventBus;
  /** Encrypts session volumes and the secrets bundles. */
  readonly dataKey: kms.IKey;
  readonly nonceTable: dynamodb.ITable;
  /** A session's secrets bundle is `${secretPrefix}${sessionId}`. */
  readonly secretPrefix: string;
  /** SSM parameter of the active policy; its version is recorded on each session. */
  readonly policyParameterName: string;
}

/** A session function: its handler, the session table and the audit bus. */
export function sessionFunction(
  scope: Construct,
  id: string,
  props: { table: dynamodb.ITable; auditBus: events.IEventBus },
  entry: string,
  description: string,
  environment: Record<string, string>,
): AidopsFunction {
  const f = new AidopsFunction(scope, id, {
    entry: `lambdas/sessions/handlers/${entry}.ts`,
    description,
    environment: { SESSION_TABLE: props.table.tableName, AUDIT_BUS_NAME: props.auditBus.eventBusName, ...environment },
  });
  props.table.grantReadWriteData(f.fn);
  props.auditBus.grantPutEventsTo(f.fn);
  return f;
}

export interface SessionFunctions {
  /** What the workflow's tasks invoke. */
  readonly workflow: SessionWorkflowFunctions;
  /** Every function, by its construct id. */
  readonly all: Readonly<Record<string, AidopsFunction>>;
}

const RUN_TIME = 'Created at run time (one per session); ids cannot be known at deploy.';

/**
 * Adds the functions to `scope` itself (not a construct level of its own): live
 * sessions' executions name them, so they keep the logical ids they were deployed with.
 */
export function addSessionFunctions(scope: Construct, props: SessionFunctionsProps): SessionFunctions {
  const cfg = props.config;
  const fn = (id: string, entry: string, description: string, environment: Record<string, string>) =>
    sessionFunction(scope, id, props, entry, description, environment);
  const sessionSecrets = secretArn(scope, `${props.secretPrefix}*`);
  const bundles = `Session bundles are named by session id under the prefix. ${RUN_TIME}`;

  const admit = fn('Admit', 'admit', 'Session workflow: validate the request, check fleet flags, admit', {
    SESSIONS_RUNTIME: Stack.of(scope).toJsonString(runtimeConfig(cfg, props.profiles)),
    FLAG_PREFIX: cfg.flagPrefix,
    FLAG_CACHE_SECONDS: String(cfg.flagCacheSeconds),
    POLICY_PARAMETER: props.policyParameterName,
  });
  grantAcknowledged(
    admit.fn.role!,
    new iam.PolicyStatement({
      actions: ['ssm:GetParametersByPath'],
      resources: [parameterArn(scope, cfg.flagPrefix), parameterArn(scope, `${cfg.flagPrefix}/*`)],
    }),
    'Flags are parameters under the flag prefix, one per cohort and capability.',
  );
  admit.fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ssm:GetParameter'],
      resources: [parameterArn(scope, props.policyParameterName)],
    }),
  );

  const nonce = fn('Nonce', 'nonce', 'Session workflow: issue the attestation nonce', {
    NONCE_TABLE: props.nonceTable.tableName,
    NONCE_TTL_SECONDS: String(cfg.attestation.timeoutSeconds),
  });
  props.nonceTable.grantWriteData(nonce.fn);

  const stageSecrets = fn('StageSecrets', 'stage-secrets', 'Session workflow: stage the session secrets bundle', {
    SECRET_PREFIX: props.secretPrefix,
    SECRETS_KMS_KEY_ID: props.dataKey.keyArn,
  });
  const allowedSecrets = [...new Set(Object.values(cfg.profiles).flatMap((p) => p.secrets))];
  if (allowedSecrets.length > 0)
    stageSecrets.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        // Secrets Manager appends "-xxxxxx" to every ARN.
        resources: allowedSecrets.map((s) => secretArn(scope, `${s}-??????`)),
      }),
    );
  grantAcknowledged(
    stageSecrets.fn.role!,
    new iam.PolicyStatement({
      actions: ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource'],
      resources: [sessionSecrets],
    }),
    bundles,
  );
  props.dataKey.grantEncryptDecrypt(stageSecrets.fn);

  const launch = fn('Launch', 'launch', 'Session workflow: RunInstances from the profile launch template, once', {
    SUBNET_IDS: props.vpc.isolatedSubnets.map((s) => s.subnetId).join(','),
  });
  const launchRole = launch.fn.role!;
  grantAcknowledged(
    launchRole,
    new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }),
    'ec2:DescribeInstances does not support resource-level permissions.',
  );
  const launched = [ec2Arns(scope, 'instance'), ec2Arns(scope, 'volume'), ec2Arns(scope, 'network-interface')];
  grantAcknowledged(
    launchRole,
    new iam.PolicyStatement({
      actions: ['ec2:RunInstances'],
      resources: [
        ...launched,
        ec2Arns(scope, 'image'),
        ...props.vpc.isolatedSubnets.map((s) => ec2Arn(scope, 'subnet', s.subnetId)),
        ...Object.values(props.profiles.byName).flatMap((r) => [
          ec2Arn(scope, 'security-group', r.securityGroup.securityGroupId),
          ec2Arn(scope, 'launch-template', r.launchTemplate.launchTemplateId!),
        ]),
      ],
    }),
    `${RUN_TIME} Images are limited by the admission allowlist.`,
  );
  grantAcknowledged(
    launchRole,
    new iam.PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: launched,
      conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    }),
    `${RUN_TIME} Tags only what the same RunInstances call creates.`,
  );
  grantAcknowledged(
    launchRole,
    new iam.PolicyStatement({
      actions: ['ssm:GetParameter'],
      resources: [parameterArn(scope, '/aws/service/*', { account: '' })],
    }),
    'Public AMI parameters (resolve:ssm images).',
  );
  props.profiles.instanceRole.grantPassRole(launch.fn.grantPrincipal);
  // EC2 encrypts the volumes with the data key on the launcher's behalf.
  props.dataKey.grant(
    launch.fn,
    'kms:GenerateDataKeyWithoutPlaintext',
    'kms:Decrypt',
    'kms:DescribeKey',
    'kms:ReEncrypt*',
  );
  acknowledge(
    launchRole,
    'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
    'EC2 re-encrypts volume data keys with the same customer key.',
  );
  launch.fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['kms:CreateGrant'],
      resources: [props.dataKey.keyArn],
      conditions: { Bool: { 'kms:GrantIsForAWSResource': true } },
    }),
  );

  const record = fn('Record', 'record', 'Session workflow: record a status change and audit the step', {});

  const teardown = fn('Teardown', 'teardown', 'Session workflow: revoke, terminate, delete secrets, audit', {
    SECRET_PREFIX: props.secretPrefix,
  });
  const teardownRole = teardown.fn.role!;
  grantAcknowledged(
    teardownRole,
    new iam.PolicyStatement({
      actions: ['ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeIamInstanceProfileAssociations'],
      resources: ['*'],
    }),
    'EC2 Describe* calls do not support resource-level permissions.',
  );
  grantAcknowledged(
    teardownRole,
    new iam.PolicyStatement({
      actions: ['ec2:TerminateInstances', 'ec2:DisassociateIamInstanceProfile', 'ec2:DeleteVolume'],
      resources: [ec2Arns(scope, 'instance'), ec2Arns(scope, 'volume')],
      conditions: { StringLike: { 'aws:ResourceTag/aidops:session-id': '*' } },
    }),
    `${RUN_TIME} Limited to resources tagged with a session id.`,
  );
  grantAcknowledged(
    teardownRole,
    new iam.PolicyStatement({ actions: ['secretsmanager:DeleteSecret'], resources: [sessionSecrets] }),
    bundles,
  );

  return {
    workflow: {
      admit: admit.fn,
      nonce: nonce.fn,
      stageSecrets: stageSecrets.fn,
      launch: launch.fn,
      record: record.fn,
      teardown: teardown.fn,
    },
    all: { Admit: admit, Nonce: nonce, StageSecrets: stageSecrets, Launch: launch, Record: record, Teardown: teardown },
  };
}

/** The facts admission needs at run time: the checked config, narrowed, with the deployed template and group ids. */
function runtimeConfig(cfg: SessionsConfig, profiles: SessionProfiles) {
  return {
    profiles: Object.fromEntries(
      Object.entries(cfg.profiles).map(([name, p]) => [
        name,
        {
          isolation: p.isolation,
          evidenceType: p.evidenceType,
          images: p.images,
          instanceTypes: p.instanceTypes,
          maxTtlSeconds: p.maxTtlSeconds,
          secrets: p.secrets,
          memoryEvidence: p.memoryEvidence,
          ...(p.attestationPolicy ? { attestationPolicy: p.attestationPolicy } : {}),
          unpinned: p.unpinned,
          launchTemplateId: profiles.byName[name]!.launchTemplate.launchTemplateId!,
          securityGroupId: profiles.byName[name]!.securityGroup.securityGroupId,
        },
      ]),
    ),
    tiers: cfg.tiers,
    useCases: Object.fromEntries(Object.entries(cfg.useCases).map(([k, u]) => [k, { tier: u.tier }])),
    cohorts: cfg.cohorts,
    minTtlSeconds: cfg.minTtlSeconds,
    defaultTtlSeconds: cfg.defaultTtlSeconds,
  };
}
