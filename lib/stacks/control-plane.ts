import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { DEFAULT_TWO_PERSON_RULE } from '../../lambdas/doors/people/two-person.ts';
import { parseTrustPolicy } from '../../lambdas/plugins/policy.ts';
import type { AppConfig } from '../config.ts';
import { Attestation } from '../constructs/attestation.ts';
import { auditNames } from '../constructs/audit-access.ts';
import type { AuditBucket } from '../constructs/audit-bucket.ts';
import { AuditIngest } from '../constructs/audit-ingest.ts';
import { OperationsDashboard } from '../constructs/dashboard.ts';
import { GameDay } from '../constructs/drill.ts';
import { PROJECT_ROOT } from '../constructs/function.ts';
import { SessionNetwork } from '../constructs/network.ts';
import { NetworkWatch } from '../constructs/network-watch.ts';
import { OperatorRoles } from '../constructs/operator-roles.ts';
import { PeopleDoor } from '../constructs/people-door.ts';
import { PluginAdmission } from '../constructs/plugins.ts';
import { PluginAdmissionWorkflow } from '../constructs/plugins-workflow.ts';
import { PolicyEngine } from '../constructs/policy.ts';
import { Snapshot } from '../constructs/remediation/snapshot.ts';
import { Remediation } from '../constructs/remediation.ts';
import { ScopeGrants } from '../constructs/scopes.ts';
import { SessionPlatform } from '../constructs/session-platform.ts';
import { sessionMachineArn } from '../constructs/sessions/arns.ts';
import { ENVIRONMENT_CONTEXT } from '../names.ts';

export interface ControlPlaneStackProps extends StackProps {
  readonly config: AppConfig;
  readonly dataKey: kms.IKey;
  readonly audit: AuditBucket;
  /** The audit bucket's ARN, imported by an explicit export name (StatefulStack.auditBucketArn). */
  readonly auditBucketArn: string;
  readonly auditSigningKey: kms.IKey;
}

/** Stateless: functions, workflows and rules. Safe to destroy and redeploy. */
export class ControlPlaneStack extends Stack {
  readonly alarmTopic: sns.Topic;
  readonly snapshot: Snapshot;
  readonly network: SessionNetwork;
  readonly networkWatch: NetworkWatch;
  readonly remediation: Remediation;
  readonly auditIngest: AuditIngest;
  readonly attestation: Attestation;
  readonly policy: PolicyEngine;
  readonly plugins: PluginAdmission;
  readonly pluginAdmission: PluginAdmissionWorkflow;
  readonly sessions: SessionPlatform;
  readonly scopes: ScopeGrants;
  readonly peopleDoor: PeopleDoor;
  readonly operators: OperatorRoles;
  readonly operations: OperationsDashboard;
  readonly gameDay?: GameDay;

  constructor(scope: Construct, id: string, props: ControlPlaneStackProps) {
    super(scope, id, props);
    this.node.setContext(ENVIRONMENT_CONTEXT, props.config.environment);
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
      bucketArn: props.auditBucketArn,
      signingKey: props.auditSigningKey,
      names: auditNames(props.config.environment),
      alarmTopic: this.alarmTopic,
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
    // Decisions read the session, flags and registry themselves; scopes are granted by a workflow.
    this.policy.readStateFrom({
      sessionTable: this.sessions.table,
      flagPrefix: props.config.sessions.flagPrefix,
      flagCacheSeconds: props.config.sessions.flagCacheSeconds,
      registryTable: this.plugins.table,
    });
    this.scopes = new ScopeGrants(this, 'Scopes', {
      sessionTable: this.sessions.table,
      dataKey: props.dataKey,
      auditBus: this.auditIngest.bus,
      alarmTopic: this.alarmTopic,
    });
    this.remediation = new Remediation(this, 'Remediation', {
      key: props.dataKey,
      quarantineGroup: this.network.quarantineGroup,
      isolationTransitionGroup: this.network.isolationTransitionGroup,
      snapshotMachine: this.snapshot.machine.stateMachine,
      alarmTopic: this.alarmTopic,
      eventBus: this.auditIngest.bus,
      // The revocation policy goes on the session instances' role, by ARN.
      sessionRoleArns: [this.sessions.instanceRole.roleArn],
      // A tombstone ends the session it contains.
      sessions: { table: this.sessions.table, machineArn: sessionMachineArn(this) },
      trustedFindingProducts: props.config.trustedFindingProducts,
      egressActions: props.config.suspiciousEgressActions,
      evidence: {
        bucket: props.audit.bucket,
        bucketArn: props.auditBucketArn,
        key: props.audit.encryptionKey,
        retentionDays: props.audit.retentionDays,
      },
    });
    // The playbook's case: rejected egress from a session interface → SuspiciousEgress → by tier.
    this.networkWatch = new NetworkWatch(this, 'NetworkWatch', {
      flowLogs: this.network.flowLogs,
      auditBus: this.auditIngest.bus,
      incidentTable: this.remediation.incidentTable,
    });
    this.peopleDoor = this.operatorDoor(props);
    this.operators = new OperatorRoles(this, 'Operators', {
      door: this.peopleDoor,
      auditBucketArn: props.auditBucketArn,
      auditKey: props.audit.encryptionKey,
      digestKey: props.auditSigningKey,
      headTableArn: this.auditIngest.headTable.tableArn,
      policyBucket: this.policy.bucket,
      policyPointer: this.policy.activeVersion,
      trustedPrincipals: props.config.operatorPrincipals,
    });
    if (props.config.peopleDoor.operatorRolesOnly)
      this.peopleDoor.admitOnly(Object.values(this.operators.roles).map((r) => r.roleArn));
    // The scheduled game day, off unless aidops:drill names a schedule.
    if (props.config.drill)
      this.gameDay = new GameDay(this, 'GameDay', {
        config: props.config.drill,
        objectiveSeconds: props.config.slo.timeToIsolationP99Seconds,
        tombstoneMachine: this.remediation.tombstone.machine.stateMachine,
        sessionTable: this.sessions.table,
        auditBus: this.auditIngest.bus,
      });
    // Operations: the dashboard and SLO alarms. Keep last: it shows every machine and dead-letter queue above.
    this.operations = new OperationsDashboard(this, 'Operations', {
      alarmTopic: this.alarmTopic,
      slo: props.config.slo,
      alarmedQueues: [{ queue: this.auditIngest.deadLetterQueue, alarm: this.auditIngest.dlqAlarm }],
    });
  }

  /** The operators' door: approvals (the only SendTask* on the approval machines), incidents, flags. */
  private operatorDoor(props: ControlPlaneStackProps): PeopleDoor {
    const door = props.config.peopleDoor;
    return new PeopleDoor(this, 'PeopleDoor', {
      auditBus: this.auditIngest.bus,
      incidentTable: this.remediation.incidentTable,
      incidentKey: props.dataKey,
      restoreMachine: this.remediation.restore.machine.stateMachine,
      tombstoneMachine: this.remediation.tombstone.machine.stateMachine,
      pluginAdmission: this.pluginAdmission,
      pluginKey: this.plugins.key,
      scopes: this.scopes,
      scopeKey: props.dataKey,
      flagPrefix: props.config.sessions.flagPrefix,
      twoPersonRule: { ...DEFAULT_TWO_PERSON_RULE, ...props.config.twoPersonRule },
      endpointType: door.endpointType,
      vpcEndpoints: door.vpcEndpointIds.map((id, i) =>
        ec2.InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(this, `PeopleDoorEndpoint${i}`, {
          vpcEndpointId: id,
          port: 443,
        }),
      ),
      // The account's API Gateway logging role, made with the guests' door.
      cloudWatchAccount: this.sessions.guestDoor.api.node.tryFindChild('Account'),
    });
  }
}
