/**
 * Confidential desktop sessions: per-profile egress security groups and launch
 * templates, the least-privilege instance role, the session table, the
 * session workflow and its functions, the guest-facing evidence function, the
 * flag-change auditor, the orphan sweeper, and (optionally) a Route 53 Resolver
 * DNS Firewall domain allowlist.
 */
import { Aws, Tags as CdkTags, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as route53resolver from 'aws-cdk-lib/aws-route53resolver';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { SESSION_MACHINE } from '../../lambdas/sessions/model.ts';
import { Tags } from '../../lambdas/shared/tags.ts';
import { SessionWorkflow } from '../../workflows/session.ts';
import { nagArn, OrphanSweeper } from '../../workflows/sweeper.ts';
import type { SessionsConfig } from '../../lambdas/sessions/tiers.ts';
import { Attestation } from './attestation.ts';
import { AidopsFunction } from './function.ts';
import type { SessionNetwork } from './network.ts';

export interface SessionPlatformProps {
  readonly network: SessionNetwork;
  /** Encrypts session volumes, the session table and the secrets bundles. */
  readonly dataKey: kms.IKey;
  /** Checked tiers/profiles config (lib/tiers.ts `parseSessionsConfig`). */
  readonly config: SessionsConfig;
  /** @default no alarm action */
  readonly alarmTopic?: sns.ITopic;
  /** Audit bus every step publishes to. @default the bus named `aidops-audit` (AuditIngest's default) */
  readonly auditBus?: events.IEventBus;
  /**
   * Nonce table and secret prefix of the attestation capability.
   * @default a new `Attestation` construct inside this one
   */
  readonly attestation?: { readonly table: dynamodb.ITable; readonly secretPrefix: string };
  /** SSM parameter of the active policy; its version is tagged on sessions. @default '/aidops/policy/active' */
  readonly policyParameterName?: string;
  /** @default 'aidops-sessions' */
  readonly tableName?: string;
}

interface ProfileResources {
  readonly securityGroup: ec2.SecurityGroup;
  readonly launchTemplate: ec2.LaunchTemplate;
}

export class SessionPlatform extends Construct {
  readonly table: dynamodb.Table;
  readonly workflow: SessionWorkflow;
  readonly instanceRole: iam.Role;
  readonly profiles: Record<string, ProfileResources> = {};
  readonly evidenceFn: AidopsFunction;
  /** The guests' door: IAM-authenticated, callable by the session instance role only. */
  readonly evidenceUrl: lambda.FunctionUrl;
  readonly flagAuditFn: AidopsFunction;
  readonly sweeper: OrphanSweeper;
  readonly attestation?: Attestation;
  readonly auditBus: events.IEventBus;
  readonly functions: Record<string, AidopsFunction> = {};
  readonly vpc: ec2.IVpc;

  constructor(scope: Construct, id: string, props: SessionPlatformProps) {
    super(scope, id);
    const cfg = props.config;
    const stack = Stack.of(this);
    const vpc = props.network.vpc;
    const machineArnLiteral = `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:${SESSION_MACHINE}`;
    const executionArnPattern = `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${SESSION_MACHINE}:*`;
    this.vpc = vpc;
    this.auditBus = props.auditBus ?? events.EventBus.fromEventBusName(this, 'AuditBus', 'aidops-audit');

    let nonceTable: dynamodb.ITable;
    let secretPrefix: string;
    if (props.attestation) {
      nonceTable = props.attestation.table;
      secretPrefix = props.attestation.secretPrefix;
    } else {
      this.attestation = new Attestation(this, 'Attestation', {
        key: props.dataKey,
        stateMachineArns: [machineArnLiteral],
        removalPolicy: RemovalPolicy.DESTROY,
      });
      nonceTable = this.attestation.table;
      secretPrefix = this.attestation.secretPrefix;
    }
    const secretArnPattern = `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${secretPrefix}*`;

    this.table = new dynamodb.Table(this, 'Sessions', {
      tableName: props.tableName ?? 'aidops-sessions',
      partitionKey: { name: 'sessionId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'purgeAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.dataKey,
      // Kept on stack deletion, like every table of the control plane: live sessions' tokens are in it.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---- instance role: only what the SSM agent needs to offer the desktop ----
    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'ai-desktop-ops session instances: SSM agent channels only',
    });
    this.instanceRole.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'ssm:UpdateInstanceInformation',
          'ssmmessages:CreateControlChannel',
          'ssmmessages:CreateDataChannel',
          'ssmmessages:OpenControlChannel',
          'ssmmessages:OpenDataChannel',
        ],
        resources: ['*'],
      }),
    );
    Validations.of(this.instanceRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'The SSM agent channel APIs (ssmmessages:*, ssm:UpdateInstanceInformation) take no resource ARNs.',
    });

    // ---- per profile: egress group and launch template ----
    const vpcCidr = props.network.vpc.vpcCidrBlock;
    for (const [name, p] of Object.entries(cfg.profiles)) {
      const tier = (Object.entries(cfg.tiers).find(([, prof]) => prof === name)?.[0] ?? 'none') as string;
      const sg = new ec2.SecurityGroup(this, `Egress-${name}`, {
        vpc,
        description: `ai-desktop-ops ${name} sessions: no inbound; outbound only to the allowlist`,
        allowAllOutbound: false,
      });
      // VPC interface endpoints (SSM, KMS, Secrets Manager, STS, Logs) answer on 443 inside the VPC.
      sg.addEgressRule(ec2.Peer.ipv4(vpcCidr), ec2.Port.tcp(443), 'VPC interface endpoints');
      for (const e of p.egress)
        sg.addEgressRule(
          ec2.Peer.ipv4(e.cidr),
          e.protocol === 'udp' ? ec2.Port.udp(e.port) : ec2.Port.tcp(e.port),
          e.description,
        );
      const lt = new ec2.LaunchTemplate(this, `Template-${name}`, {
        launchTemplateName: `aidops-${name}`,
        role: this.instanceRole,
        securityGroup: sg,
        requireImdsv2: true,
        httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
        httpPutResponseHopLimit: 1,
        httpEndpoint: true,
        instanceMetadataTags: false,
        associatePublicIpAddress: false,
        // No keyPair: access is through SSM Session Manager only.
        nitroEnclaveEnabled: p.isolation === 'nitro-enclave',
        instanceInitiatedShutdownBehavior: ec2.InstanceInitiatedShutdownBehavior.TERMINATE,
        detailedMonitoring: true,
        ebsOptimized: true,
        blockDevices: [
          {
            deviceName: '/dev/xvda',
            volume: ec2.BlockDeviceVolume.ebs(p.rootVolumeGiB, {
              encrypted: true,
              kmsKey: props.dataKey,
              volumeType: ec2.EbsDeviceVolumeType.GP3,
              deleteOnTermination: true,
            }),
          },
        ],
      });
      const cfn = lt.node.defaultChild as ec2.CfnLaunchTemplate;
      if (p.isolation === 'sev-snp') cfn.addPropertyOverride('LaunchTemplateData.CpuOptions.AmdSevSnp', 'enabled');
      // Tags on the template propagate to instances and volumes at launch (TagSpecifications).
      CdkTags.of(lt).add(Tags.Tier, tier);
      CdkTags.of(lt).add(Tags.Profile, name);
      CdkTags.of(lt).add(Tags.ManagedBy, 'ai-desktop-ops');
      this.profiles[name] = { securityGroup: sg, launchTemplate: lt };
    }

    // ---- functions ----
    const common = { SESSION_TABLE: this.table.tableName, AUDIT_BUS_NAME: this.auditBus.eventBusName };
    const runtime = {
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
            launchTemplateId: this.profiles[name]!.launchTemplate.launchTemplateId!,
            securityGroupId: this.profiles[name]!.securityGroup.securityGroupId,
          },
        ]),
      ),
      tiers: cfg.tiers,
      useCases: Object.fromEntries(Object.entries(cfg.useCases).map(([k, u]) => [k, { tier: u.tier }])),
      cohorts: cfg.cohorts,
      minTtlSeconds: cfg.minTtlSeconds,
      defaultTtlSeconds: cfg.defaultTtlSeconds,
    };
    const runtimeJson = stack.toJsonString(runtime);
    const policyParameterName = props.policyParameterName ?? '/aidops/policy/active';
    const fn = (key: string, entry: string, description: string, environment: Record<string, string>) => {
      const f = new AidopsFunction(this, key, {
        entry: `lambdas/sessions/handlers/${entry}.ts`,
        description,
        environment: { ...common, ...environment },
      });
      this.table.grantReadWriteData(f.fn);
      this.auditBus.grantPutEventsTo(f.fn);
      this.functions[key] = f;
      return f;
    };
    const admit = fn('Admit', 'admit', 'Session workflow: validate the request, check fleet flags, admit', {
      SESSIONS_RUNTIME: runtimeJson,
      FLAG_PREFIX: cfg.flagPrefix,
      FLAG_CACHE_SECONDS: String(cfg.flagCacheSeconds),
      POLICY_PARAMETER: policyParameterName,
    });
    const flagPathArn = `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${cfg.flagPrefix}`;
    admit.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParametersByPath'],
        resources: [flagPathArn, `${flagPathArn}/*`],
      }),
    );
    admit.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter'],
        resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${policyParameterName}`],
      }),
    );
    const nonce = fn('Nonce', 'nonce', 'Session workflow: issue the attestation nonce', {
      NONCE_TABLE: nonceTable.tableName,
      NONCE_TTL_SECONDS: String(cfg.attestation.timeoutSeconds),
    });
    nonceTable.grantWriteData(nonce.fn);
    const stageSecrets = fn('StageSecrets', 'stage-secrets', 'Session workflow: stage the session secrets bundle', {
      SECRET_PREFIX: secretPrefix,
      SECRETS_KMS_KEY_ID: props.dataKey.keyArn,
    });
    const allowedSecrets = [...new Set(Object.values(cfg.profiles).flatMap((p) => p.secrets))];
    if (allowedSecrets.length > 0)
      stageSecrets.fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          // Secrets Manager appends "-xxxxxx" to every ARN.
          resources: allowedSecrets.map(
            (s) => `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${s}-??????`,
          ),
        }),
      );
    stageSecrets.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource'],
        resources: [secretArnPattern],
      }),
    );
    props.dataKey.grantEncryptDecrypt(stageSecrets.fn);

    const launch = fn('Launch', 'launch', 'Session workflow: RunInstances from the profile launch template, once', {
      SUBNET_IDS: vpc.isolatedSubnets.map((s) => s.subnetId).join(','),
    });
    launch.fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }));
    launch.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:RunInstances'],
        resources: [
          'arn:aws:ec2:*:*:instance/*',
          'arn:aws:ec2:*:*:volume/*',
          'arn:aws:ec2:*:*:network-interface/*',
          'arn:aws:ec2:*::image/*',
          ...vpc.isolatedSubnets.map(
            (s) => `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:subnet/${s.subnetId}`,
          ),
          ...Object.values(this.profiles).flatMap((r) => [
            `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:security-group/${r.securityGroup.securityGroupId}`,
            `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:launch-template/${r.launchTemplate.launchTemplateId}`,
          ]),
        ],
      }),
    );
    launch.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:CreateTags'],
        resources: ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ec2:*:*:volume/*', 'arn:aws:ec2:*:*:network-interface/*'],
        conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
      }),
    );
    launch.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter'],
        resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}::parameter/aws/service/*`],
      }),
    );
    this.instanceRole.grantPassRole(launch.fn.grantPrincipal);
    // EC2 encrypts the volumes with the data key on the launcher's behalf.
    props.dataKey.grant(
      launch.fn,
      'kms:GenerateDataKeyWithoutPlaintext',
      'kms:Decrypt',
      'kms:DescribeKey',
      'kms:ReEncrypt*',
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
      SECRET_PREFIX: secretPrefix,
    });
    teardown.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeIamInstanceProfileAssociations'],
        resources: ['*'],
      }),
    );
    teardown.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:TerminateInstances', 'ec2:DisassociateIamInstanceProfile', 'ec2:DeleteVolume'],
        resources: ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ec2:*:*:volume/*'],
        conditions: { StringLike: { 'aws:ResourceTag/aidops:session-id': '*' } },
      }),
    );
    teardown.fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:DeleteSecret'], resources: [secretArnPattern] }),
    );

    this.evidenceFn = fn('Evidence', 'evidence', 'Guest evidence door: nonce, boot heartbeat, attestation', {
      NONCE_TABLE: nonceTable.tableName,
      SECRET_PREFIX: secretPrefix,
      INSTANCE_ROLE_NAME: this.instanceRole.roleName,
    });
    // Guests call through a Function URL signed with their instance-profile credentials; the
    // handler binds the caller (role session = instance id) to the session it asks about.
    this.evidenceUrl = this.evidenceFn.fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    this.evidenceUrl.grantInvokeUrl(this.instanceRole);
    nonceTable.grantReadWriteData(this.evidenceFn.fn);
    props.dataKey.grantDecrypt(this.evidenceFn.fn);
    this.evidenceFn.fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretArnPattern] }),
    );
    this.evidenceFn.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        resources: [machineArnLiteral],
      }),
    );

    // ---- flag changes, whatever tool made them, become audit events ----
    this.flagAuditFn = new AidopsFunction(this, 'FlagAudit', {
      entry: 'lambdas/sessions/handlers/flag-audit.ts',
      description: 'Audits every change of a fleet flag (SSM Parameter Store Change events)',
      environment: { AUDIT_BUS_NAME: this.auditBus.eventBusName, FLAG_PREFIX: cfg.flagPrefix },
    });
    this.auditBus.grantPutEventsTo(this.flagAuditFn.fn);
    this.flagAuditFn.fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: [`${flagPathArn}/*`] }),
    );
    new events.Rule(this, 'FlagChanges', {
      description: 'ai-desktop-ops fleet flag changes → audit',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: ['Parameter Store Change'],
        detail: { name: [{ prefix: `${cfg.flagPrefix}/` }] },
      },
      targets: [new targets.LambdaFunction(this.flagAuditFn.fn, { retryAttempts: 4 })],
    });

    // ---- the workflow ----
    this.workflow = new SessionWorkflow(this, 'Workflow', {
      functions: {
        admit: admit.fn,
        nonce: nonce.fn,
        stageSecrets: stageSecrets.fn,
        launch: launch.fn,
        record: record.fn,
        teardown: teardown.fn,
      },
      table: this.table,
      alarmTopic: props.alarmTopic,
      attestationTimeout: Duration.seconds(cfg.attestation.timeoutSeconds),
      attestationHeartbeat: Duration.seconds(cfg.attestation.heartbeatSeconds),
      maxTtl: Duration.seconds(Math.max(...Object.values(cfg.profiles).map((p) => p.maxTtlSeconds))),
      maxRunningPolls: cfg.maxRunningPolls,
      onAttestationFailure: cfg.onAttestationFailure,
    });

    this.sweeper = new OrphanSweeper(this, 'Sweeper', {
      table: this.table,
      auditBus: this.auditBus,
      secretArnPattern,
      secretPrefix,
      executionArnPattern,
      dryRun: cfg.sweeper.dryRun,
      rate: Duration.minutes(cfg.sweeper.rateMinutes),
      grace: Duration.seconds(cfg.sweeper.graceSeconds),
    });

    if (cfg.dnsFirewall.enabled) this.dnsFirewall(cfg);
    this.acknowledge(secretArnPattern, allowedSecrets, flagPathArn);
  }

  /** Resolver DNS Firewall: allow the profiles' domains and AWS endpoints, block every other name. */
  private dnsFirewall(cfg: SessionsConfig): void {
    const domains = [
      ...new Set([...Object.values(cfg.profiles).flatMap((p) => p.domains), '*.amazonaws.com', 'amazonaws.com']),
    ];
    const allow = new route53resolver.CfnFirewallDomainList(this, 'DnsAllow', { domains, name: 'aidops-allow' });
    const all = new route53resolver.CfnFirewallDomainList(this, 'DnsAll', { domains: ['*'], name: 'aidops-all' });
    const group = new route53resolver.CfnFirewallRuleGroup(this, 'DnsRules', {
      name: 'aidops-sessions',
      firewallRules: [
        { firewallDomainListId: allow.attrId, priority: 100, action: 'ALLOW' },
        { firewallDomainListId: all.attrId, priority: 200, action: 'BLOCK', blockResponse: 'NXDOMAIN' },
      ],
    });
    new route53resolver.CfnFirewallRuleGroupAssociation(this, 'DnsAssoc', {
      firewallRuleGroupId: group.attrId,
      vpcId: this.vpc.vpcId,
      priority: 101,
      mutationProtection: 'ENABLED',
    });
  }

  private acknowledge(secretArnPattern: string, allowedSecrets: readonly string[], flagPathArn: string): void {
    const nag = nagArn;
    const ack = (c: Construct, resources: readonly string[], reason: string) => {
      for (const r of resources) Validations.of(c).acknowledge({ id: `AwsSolutions-IAM5[Resource::${r}]`, reason });
    };
    const runtime = 'Created at run time (one per session); ids cannot be known at deploy.';
    const roleOf = (k: string) => this.functions[k]!.fn.role!;
    ack(roleOf('Launch'), ['*'], 'ec2:DescribeInstances does not support resource-level permissions.');
    ack(
      roleOf('Launch'),
      [
        'arn:aws:ec2:*:*:instance/*',
        'arn:aws:ec2:*:*:volume/*',
        'arn:aws:ec2:*:*:network-interface/*',
        'arn:aws:ec2:*::image/*',
      ],
      `${runtime} Images are limited by the admission allowlist.`,
    );
    ack(
      roleOf('Launch'),
      [nag(`arn:${Aws.PARTITION}:ssm:${Aws.REGION}::parameter/aws/service/*`)],
      'Public AMI parameters (resolve:ssm images).',
    );
    ack(roleOf('Launch'), ['Action::kms:ReEncrypt*'], 'EC2 re-encrypts volume data keys with the same customer key.');
    ack(roleOf('Teardown'), ['*'], 'EC2 Describe* calls do not support resource-level permissions.');
    ack(
      roleOf('Teardown'),
      ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ec2:*:*:volume/*'],
      `${runtime} Limited to resources tagged with a session id.`,
    );
    for (const k of ['StageSecrets', 'Teardown', 'Evidence'])
      ack(roleOf(k), [nag(secretArnPattern)], `Session bundles are named by session id under the prefix. ${runtime}`);
    ack(
      roleOf('StageSecrets'),
      allowedSecrets.map((s) =>
        nag(`arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${s}-??????`),
      ),
      'Secrets Manager appends a random 6-character suffix to secret ARNs.',
    );
    ack(
      roleOf('Admit'),
      [nag(`${flagPathArn}/*`)],
      'Flags are parameters under the flag prefix, one per cohort and capability.',
    );
    ack(
      this.flagAuditFn.fn.role!,
      [nag(`${flagPathArn}/*`)],
      'Flags are parameters under the flag prefix, one per cohort and capability.',
    );
    for (const k of ['StageSecrets', 'Launch', 'Evidence', 'Admit', 'Nonce', 'Record', 'Teardown'])
      ack(
        roleOf(k),
        ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*'],
        'CDK key grants name these action groups; scoped to the one data key.',
      );
    for (const k of Object.keys(this.functions))
      ack(
        roleOf(k),
        [`<${Stack.of(this).getLogicalId(this.table.node.defaultChild as dynamodb.CfnTable)}.Arn>/index/*`],
        'CDK table grants include the (absent) indexes of the session table.',
      );
  }
}
