/**
 * Durable remediation: the tombstone and restore workflows, the rules and
 * trigger that start tombstones automatically, the known-good snapshot
 * schedule, and what they share (the incident table, the dry-run switch, the
 * evidence store). Each part is its own construct under ./remediation/.
 */
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { EgressActions } from '../../lambdas/remediation/trigger/egress-actions.ts';
import { namesOf } from '../names.ts';
import { EvidenceStore, type EvidenceStoreProps } from './remediation/evidence-store.ts';
import { KnownGoodSchedule } from './remediation/known-good.ts';
import { Restore } from './remediation/restore.ts';
import { Tombstone } from './remediation/tombstone.ts';
import { TombstoneTriggers } from './remediation/triggers.ts';

export interface RemediationProps {
  readonly quarantineGroup: ec2.ISecurityGroup;
  readonly isolationTransitionGroup: ec2.ISecurityGroup;
  /** The aidops-snapshot machine (evidence and known-good snapshots). */
  readonly snapshotMachine: sfn.IStateMachine;
  /** Incident notifications, pages and workflow failure alarms. */
  readonly alarmTopic: sns.ITopic;
  /**
   * Encrypts the incident table and the trigger rules' dead-letter queue (findings and
   * incident records). Its policy must let EventBridge use it (StatefulStack's data key does).
   * @default AWS-managed keys
   */
  readonly key?: kms.IKey;
  /**
   * The bus the project's own events (PolicyViolation, AttestationFailed,
   * SuspiciousWrite) and audit events travel on. @default the account's default bus
   */
  readonly eventBus?: events.IEventBus;
  /** The Object-Locked audit bucket for evidence packets. @default none (the evidence step fails: wire it) */
  readonly evidence?: EvidenceStoreProps;
  /** Tombstones a minute fleet-wide before automatic requests are held and a person paged. @default 5 */
  readonly maxTombstonesPerMinute?: number;
  /** Initial value of the automatic-path dry-run switch (an SSM parameter people flip). @default false */
  readonly automaticDryRun?: boolean;
  /** @default the environment's `/aidops/<env>/remediation/automatic-dry-run` */
  readonly dryRunParameterName?: string;
  /** GuardDuty findings at or above this severity on a session instance trigger a tombstone. @default 7 (high) */
  readonly guardDutyMinSeverity?: number;
  /** Security Hub severity labels that trigger a tombstone. @default ['HIGH', 'CRITICAL'] */
  readonly securityHubSeverities?: readonly string[];
  /** Roles the tombstone may put the revocation policy on. @default roles named *aidops-<env>-session* */
  readonly sessionRoleArns?: readonly string[];
  /**
   * The session table and state machine: a tombstone marks the session it contains and
   * answers its workflow's pending callback. @default none (no session to end)
   */
  readonly sessions?: { readonly table: dynamodb.ITable; readonly machineArn: string };
  /**
   * Security Hub products whose findings may tombstone (product ARNs or `aws/<product>` ids).
   * @default Security Hub, GuardDuty and Inspector in the stack's partition and region
   */
  readonly trustedFindingProducts?: readonly string[];
  /** What SuspiciousEgress does, by the session's tier. @default high → tombstone, medium and low → alert */
  readonly egressActions?: Partial<EgressActions>;
  /** How long a revocation entry stays on a session role. @default 12 hours */
  readonly revocationWindow?: Duration;
  /** How long an evidence packet waits, at most, for the audit pipeline. @default 60 seconds */
  readonly auditWait?: Duration;
  /** How often the known-good scheduler looks at the fleet. @default Duration.minutes(5) */
  readonly knownGoodTick?: Duration;
  /** Known-good snapshot interval per session profile (tag aidops:profile). @default { default: 1 hour } */
  readonly knownGoodIntervals?: Readonly<Record<string, Duration>>;
  /** Known-good snapshots expire (the sessions sweeper deletes them) after. @default 7 days */
  readonly knownGoodRetention?: Duration;
}

export class Remediation extends Construct {
  readonly tombstone: Tombstone;
  readonly restore: Restore;
  readonly triggers: TombstoneTriggers;
  readonly knownGood: KnownGoodSchedule;
  readonly incidentTable: dynamodb.Table;
  readonly dryRunParameter: ssm.StringParameter;
  readonly incidentTableParameter: ssm.StringParameter;

  constructor(scope: Construct, id: string, props: RemediationProps) {
    super(scope, id);
    const bus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    // Coordination state only (minute counters, session locks, pending approval tokens, revocation
    // sets, all with TTL); retained like every table, so a redeploy never strands a pending approval.
    this.incidentTable = new dynamodb.Table(this, 'Incidents', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      ...(props.key
        ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.key }
        : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The CLI finds the table (pending approvals) through this parameter.
    this.incidentTableParameter = new ssm.StringParameter(this, 'IncidentTableName', {
      parameterName: namesOf(this).incidentTableParameter,
      description: 'Name of the ai-desktop-ops incident table (approval tokens, session locks)',
      stringValue: this.incidentTable.tableName,
    });
    this.dryRunParameter = new ssm.StringParameter(this, 'AutomaticDryRun', {
      parameterName: props.dryRunParameterName ?? namesOf(this).dryRunParameter,
      description: 'true: automatic tombstones (EventBridge triggers) only report what they would change',
      stringValue: String(props.automaticDryRun ?? false),
    });
    const evidence = props.evidence ? new EvidenceStore(this, 'Evidence', props.evidence) : undefined;

    this.tombstone = new Tombstone(this, 'Tombstone', {
      quarantineGroup: props.quarantineGroup,
      isolationTransitionGroup: props.isolationTransitionGroup,
      snapshotMachine: props.snapshotMachine,
      eventBus: bus,
      evidence,
      notifyTopic: props.alarmTopic,
      alarmTopic: props.alarmTopic,
      incidentTable: this.incidentTable,
      maxTombstonesPerMinute: props.maxTombstonesPerMinute,
      sessionRoleArns: props.sessionRoleArns,
      sessions: props.sessions,
      revocationWindow: props.revocationWindow,
      auditWait: props.auditWait,
    });
    this.restore = new Restore(this, 'Restore', {
      eventBus: bus,
      evidence,
      notifyTopic: props.alarmTopic,
      alarmTopic: props.alarmTopic,
      incidentTable: this.incidentTable,
      quarantineGroup: props.quarantineGroup,
      sessionRoleArns: props.sessionRoleArns,
      revocationWindow: props.revocationWindow,
    });
    this.triggers = new TombstoneTriggers(this, 'Triggers', {
      tombstoneMachine: this.tombstone.machine.stateMachine,
      eventBus: bus,
      // AWS services publish findings to the default bus only.
      findingsBus: props.eventBus ? events.EventBus.fromEventBusName(this, 'AwsFindingsBus', 'default') : bus,
      incidentTable: this.incidentTable,
      dryRunParameter: this.dryRunParameter,
      notifyTopic: props.alarmTopic,
      key: props.key,
      maxTombstonesPerMinute: props.maxTombstonesPerMinute,
      guardDutyMinSeverity: props.guardDutyMinSeverity,
      securityHubSeverities: props.securityHubSeverities,
      trustedFindingProducts: props.trustedFindingProducts,
      sessionTable: props.sessions?.table,
      egressActions: props.egressActions,
    });
    this.knownGood = new KnownGoodSchedule(this, 'KnownGoodSchedule', {
      snapshotMachine: props.snapshotMachine,
      tick: props.knownGoodTick,
      intervals: props.knownGoodIntervals,
      retention: props.knownGoodRetention,
    });
  }
}
