import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type CfnElement, Stack, type StackProps, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct, IConstruct } from 'constructs';
import { parseTrustPolicy } from '../../lambdas/plugins/policy.ts';
import { PluginAdmissionWorkflow } from '../../workflows/plugin-admission.ts';
import type { AppConfig } from '../config.ts';
import { Attestation } from '../constructs/attestation.ts';
import type { AuditBucket } from '../constructs/audit-bucket.ts';
import { AuditIngest } from '../constructs/audit-ingest.ts';
import { PROJECT_ROOT } from '../constructs/function.ts';
import { SessionNetwork } from '../constructs/network.ts';
import { PluginAdmission } from '../constructs/plugins.ts';
import { PolicyEngine } from '../constructs/policy.ts';
import { Snapshot } from '../constructs/remediation/snapshot.ts';
import { Remediation } from '../constructs/remediation.ts';
import { SessionPlatform } from '../constructs/session-platform.ts';
import { acknowledge } from '../nag.ts';

export interface ControlPlaneStackProps extends StackProps {
  readonly config: AppConfig;
  readonly dataKey: kms.IKey;
  readonly audit: AuditBucket;
  readonly auditSigningKey: kms.IKey;
}

/** Stateless: functions, workflows and rules. Safe to destroy and redeploy. */
export class ControlPlaneStack extends Stack {
  readonly alarmTopic: sns.Topic;
  readonly snapshot: Snapshot;
  readonly network: SessionNetwork;
  readonly remediation: Remediation;
  readonly auditIngest: AuditIngest;
  readonly attestation: Attestation;
  readonly policy: PolicyEngine;
  readonly plugins: PluginAdmission;
  readonly pluginAdmission: PluginAdmissionWorkflow;
  readonly sessions: SessionPlatform;

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

    this.auditIngest = new AuditIngest(this, 'AuditIngest', {
      auditBucket: props.audit,
      signingKey: props.auditSigningKey,
    });
    this.network = new SessionNetwork(this, 'Network');
    this.attestation = new Attestation(this, 'Attestation', {
      key: props.dataKey,
      accessLogsBucket: props.audit.accessLogsBucket,
    });
    this.policy = new PolicyEngine(this, 'Policy', {
      auditBus: this.auditIngest.bus,
      accessLogsBucket: props.audit.accessLogsBucket,
    });
    const trustPolicy =
      props.config.pluginTrustPolicy ??
      readFileSync(path.join(PROJECT_ROOT, 'policies/plugin-trust-policy.json'), 'utf8');
    parseTrustPolicy(trustPolicy); // refuse a bad policy at synth, naming the field
    this.plugins = new PluginAdmission(this, 'Plugins', {
      trustPolicy,
      accessLogsBucket: props.audit.accessLogsBucket,
      encryptionKey: props.dataKey,
    });
    this.pluginAdmission = new PluginAdmissionWorkflow(this, 'PluginAdmission', {
      plugins: this.plugins,
      auditBus: this.auditIngest.bus,
      alarmTopic: this.alarmTopic,
    });
    this.snapshot = new Snapshot(this, 'Snapshot', { alarmTopic: this.alarmTopic });
    this.sessions = new SessionPlatform(this, 'Sessions', {
      network: this.network,
      dataKey: props.dataKey,
      config: props.config.sessions,
      alarmTopic: this.alarmTopic,
      auditBus: this.auditIngest.bus,
      attestation: this.attestation,
      policyParameterName: this.policy.activeVersion.parameterName,
    });
    this.remediation = new Remediation(this, 'Remediation', {
      quarantineGroup: this.network.quarantineGroup,
      isolationTransitionGroup: this.network.isolationTransitionGroup,
      snapshotMachine: this.snapshot.machine.stateMachine,
      alarmTopic: this.alarmTopic,
      eventBus: this.auditIngest.bus,
      // The deny-before-now revocation goes on the session instances' role, by ARN.
      sessionRoleArns: [this.sessions.instanceRole.roleArn],
      evidence: {
        bucket: props.audit.bucket,
        key: props.audit.encryptionKey,
        retentionDays: props.audit.retentionDays,
      },
    });
    this.acknowledgeFindings(props);
  }

  /** Findings that follow from what these resources are for; each one named, with its reason. */
  private acknowledgeFindings(props: ControlPlaneStackProps): void {
    const role = (fn: { fn: { role?: iam.IRole } }) => fn.fn.role!;
    acknowledge(
      role(this.attestation.fn),
      'AwsSolutions-IAM5[Resource::*]',
      'states:SendTaskSuccess/Failure/Heartbeat have no resource-level permissions: the task token authorizes the callback.',
    );
    acknowledge(
      role(this.attestation.fn),
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:${this.pseudo(this.region, 'Region')}:${this.pseudo(this.account, 'AccountId')}:secret:${this.attestation.secretPrefix}*]`,
      "A session's secrets are created per session, at run time, under this prefix; nothing else is readable.",
    );
    const staging = `<${this.logicalIdOf(this.plugins.stagingBucket)}.Arn>`;
    acknowledge(
      role(this.plugins.verifyStaged),
      `AwsSolutions-IAM5[Resource::${staging}/*]`,
      'Reads any artifact or bundle staged for admission in its own staging bucket.',
    );
    for (const fn of [this.plugins.verifyStaged, this.plugins.refreshTrustedRoot]) {
      acknowledge(
        role(fn),
        `AwsSolutions-IAM5[Resource::${staging}/sigstore/*]`,
        "The cached Sigstore trusted root (and keys) under the bucket's sigstore/ prefix only.",
      );
    }
    acknowledge(
      role(this.policy.decide),
      `AwsSolutions-IAM5[Resource::<${this.logicalIdOf(this.policy.bucket)}.Arn>/*]`,
      'Reads whichever policy bundle version the active-version parameter names, in its own policy bucket.',
    );
    // Cross-stack: the audit bucket lives in the stateful stack, so cdk-nag sees CDK's export name for its ARN.
    const auditObjects = `${cdkExportName(props.audit.bucket, 'Arn')}/*`;
    for (const fn of [this.auditIngest.writer, this.auditIngest.digester]) {
      acknowledge(
        role(fn),
        `AwsSolutions-IAM5[Resource::${auditObjects}]`,
        'Writes audit objects and digests for every session chain in the audit bucket (Object Lock forbids overwrites).',
      );
    }
    acknowledge(
      this.auditIngest.hmacSecret,
      'AwsSolutions-SMG4',
      'The HMAC key tokenizes identifiers so equal values give equal tokens across the trail; automatic rotation would silently break that. Rotation is a deliberate, documented operation (docs/audit.md).',
    );
  }

  /** How cdk-nag renders a pseudo parameter: the literal when the stack has one, else <AWS::X>. */
  private pseudo(v: string, name: string): string {
    return Token.isUnresolved(v) ? `<AWS::${name}>` : v;
  }

  private logicalIdOf(c: IConstruct): string {
    const child = c.node.defaultChild as CfnElement | undefined;
    return Stack.of(c).resolve((child ?? (c as unknown as CfnElement)).logicalId) as string;
  }
}

/**
 * The export name CDK generates for a cross-stack reference to `Fn::GetAtt [resource, attr]`
 * (core's makeUniqueId over ['Exports', 'Output' + the intrinsic as JSON]); the nag test catches drift.
 */
function cdkExportName(resource: IConstruct, attr: string): string {
  const stack = Stack.of(resource);
  const logicalId = stack.resolve((resource.node.defaultChild as CfnElement).logicalId) as string;
  const id = `Output${JSON.stringify({ 'Fn::GetAtt': [logicalId, attr] })}`;
  const hash = createHash('md5').update(`Exports/${id}`).digest('hex').slice(0, 8).toUpperCase();
  return `${stack.stackName}:Exports${id.replace(/[^A-Za-z0-9]/g, '')}${hash}`;
}
