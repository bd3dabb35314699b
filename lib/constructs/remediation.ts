import { createHash } from 'node:crypto';
import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct, type IConstruct } from 'constructs';
import { TOMBSTONE_MACHINE } from '../../lambdas/remediation/tombstone.ts';
import { INCIDENT_TABLE_PARAMETER, OWN_DETAIL_TYPES, OWN_SOURCE_PREFIX } from '../../lambdas/remediation/trigger.ts';
import { Tags } from '../../lambdas/shared/tags.ts';
import { RestoreWorkflow } from '../../workflows/restore.ts';
import { type EvidenceStore, nagId, TombstoneWorkflow } from '../../workflows/tombstone.ts';
import { AidopsFunction } from './function.ts';

export interface RemediationProps {
  readonly quarantineGroup: ec2.ISecurityGroup;
  readonly isolationTransitionGroup: ec2.ISecurityGroup;
  /** The aidops-snapshot machine (evidence and known-good snapshots). */
  readonly snapshotMachine: sfn.IStateMachine;
  /** Incident notifications, pages and workflow failure alarms. */
  readonly alarmTopic: sns.ITopic;
  /**
   * The bus the project's own events (PolicyViolation, AttestationFailed,
   * SuspiciousWrite) and audit events travel on. @default the account's default bus
   */
  readonly eventBus?: events.IEventBus;
  /** The Object-Locked audit bucket for evidence packets. @default none (the evidence step fails: wire it) */
  readonly evidence?: EvidenceStore;
  /** Tombstones a minute fleet-wide before automatic requests are held and a person paged. @default 5 */
  readonly maxTombstonesPerMinute?: number;
  /** Initial value of the automatic-path dry-run switch (an SSM parameter people flip). @default false */
  readonly automaticDryRun?: boolean;
  /** @default '/aidops/remediation/automatic-dry-run' */
  readonly dryRunParameterName?: string;
  /** GuardDuty findings at or above this severity on a session instance trigger a tombstone. @default 7 (high) */
  readonly guardDutyMinSeverity?: number;
  /** Security Hub severity labels that trigger a tombstone. @default ['HIGH', 'CRITICAL'] */
  readonly securityHubSeverities?: readonly string[];
  /** Roles the tombstone may put the deny-before-now policy on. @default roles named *aidops-session* */
  readonly sessionRoleArns?: readonly string[];
  /** How often the known-good scheduler looks at the fleet. @default Duration.minutes(5) */
  readonly knownGoodTick?: Duration;
  /** Known-good snapshot interval per session profile (tag aidops:profile). @default { default: 1 hour } */
  readonly knownGoodIntervals?: Readonly<Record<string, Duration>>;
  /** Known-good snapshots expire (the sessions sweeper deletes them) after. @default 7 days */
  readonly knownGoodRetention?: Duration;
}

/**
 * Durable remediation: the tombstone and restore workflows, the EventBridge
 * rules and trigger function that start tombstones automatically (idempotent per
 * event, blast-radius guarded, switchable to dry run), the incident table, and
 * the known-good snapshot schedule.
 */
export class Remediation extends Construct {
  readonly tombstone: TombstoneWorkflow;
  readonly restore: RestoreWorkflow;
  readonly trigger: AidopsFunction;
  readonly knownGood: AidopsFunction;
  readonly incidentTable: dynamodb.Table;
  readonly dryRunParameter: ssm.StringParameter;
  readonly incidentTableParameter: ssm.StringParameter;
  readonly rules: events.Rule[] = [];

  constructor(scope: Construct, id: string, props: RemediationProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const bus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    // Coordination state only (minute counters, session locks, pending approval tokens, all
    // with TTL); retained like every table, so a redeploy never strands a pending approval.
    this.incidentTable = new dynamodb.Table(this, 'Incidents', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The CLI finds the table (pending approvals) through this parameter.
    this.incidentTableParameter = new ssm.StringParameter(this, 'IncidentTableName', {
      parameterName: INCIDENT_TABLE_PARAMETER,
      description: 'Name of the ai-desktop-ops incident table (approval tokens, session locks)',
      stringValue: this.incidentTable.tableName,
    });
    this.dryRunParameter = new ssm.StringParameter(this, 'AutomaticDryRun', {
      parameterName: props.dryRunParameterName ?? '/aidops/remediation/automatic-dry-run',
      description: 'true: automatic tombstones (EventBridge triggers) only report what they would change',
      stringValue: String(props.automaticDryRun ?? false),
    });

    this.tombstone = new TombstoneWorkflow(this, 'Tombstone', {
      quarantineGroup: props.quarantineGroup,
      isolationTransitionGroup: props.isolationTransitionGroup,
      snapshotMachine: props.snapshotMachine,
      eventBus: bus,
      evidence: props.evidence,
      notifyTopic: props.alarmTopic,
      alarmTopic: props.alarmTopic,
      incidentTable: this.incidentTable,
      maxTombstonesPerMinute: props.maxTombstonesPerMinute,
      sessionRoleArns: props.sessionRoleArns,
    });
    this.restore = new RestoreWorkflow(this, 'Restore', {
      eventBus: bus,
      evidence: props.evidence,
      notifyTopic: props.alarmTopic,
      alarmTopic: props.alarmTopic,
      incidentTable: this.incidentTable,
      quarantineGroup: props.quarantineGroup,
    });

    const machine = this.tombstone.machine.stateMachine;
    this.trigger = new AidopsFunction(this, 'Trigger', {
      entry: 'lambdas/remediation/handlers/trigger.ts',
      description: 'Starts at most one tombstone per session and triggering event (guarded, dry-run switch)',
      timeout: Duration.seconds(30),
      environment: {
        TOMBSTONE_MACHINE_ARN: machine.stateMachineArn,
        DRY_RUN_PARAMETER: this.dryRunParameter.parameterName,
        INCIDENT_TABLE: this.incidentTable.tableName,
        MAX_TOMBSTONES_PER_MINUTE: String(props.maxTombstonesPerMinute ?? 5),
        NOTIFY_TOPIC_ARN: props.alarmTopic.topicArn,
        AUDIT_BUS_NAME: bus.eventBusName,
      },
    });
    machine.grantStartExecution(this.trigger.fn);
    const executions = `arn:aws:states:${stack.region}:${stack.account}:execution:${TOMBSTONE_MACHINE}:*`;
    this.trigger.fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executions] }),
    );
    this.dryRunParameter.grantRead(this.trigger.fn);
    this.incidentTable.grantReadWriteData(this.trigger.fn);
    props.alarmTopic.grantPublish(this.trigger.fn);
    bus.grantPutEventsTo(this.trigger.fn);
    Validations.of(this.trigger.fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagId(stack, executions)}]`,
      reason: 'DescribeExecution on the tombstone machine’s executions (the trigger checks for a redelivery).',
    });

    // Failed deliveries to the trigger land here instead of vanishing.
    const dlq = new sqs.Queue(this, 'TriggerDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(dlq).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the trigger rules.',
    });
    const target = () =>
      new targets.LambdaFunction(this.trigger.fn, {
        deadLetterQueue: dlq,
        retryAttempts: 8,
        maxEventAge: Duration.hours(2),
      });
    this.rules.push(
      new events.Rule(this, 'OwnEvents', {
        eventBus: bus,
        description: 'PolicyViolation, AttestationFailed, SuspiciousWrite from aidops components → tombstone',
        eventPattern: {
          source: events.Match.prefix(OWN_SOURCE_PREFIX),
          detailType: [...OWN_DETAIL_TYPES],
          detail: { sessionId: events.Match.exists() },
        },
        targets: [target()],
      }),
    );
    // AWS services publish findings to the default bus only.
    const defaultBus = props.eventBus ? events.EventBus.fromEventBusName(this, 'AwsFindingsBus', 'default') : bus;
    this.rules.push(
      new events.Rule(this, 'GuardDutyFindings', {
        eventBus: defaultBus,
        description: 'GuardDuty findings on a session instance (tagged aidops:session-id) → tombstone',
        eventPattern: {
          source: ['aws.guardduty'],
          detailType: ['GuardDuty Finding'],
          detail: {
            severity: events.Match.greaterThanOrEqual(props.guardDutyMinSeverity ?? 7),
            resource: { resourceType: ['Instance'], instanceDetails: { tags: { key: [Tags.SessionId] } } },
          },
        },
        targets: [target()],
      }),
      new events.Rule(this, 'SecurityHubFindings', {
        eventBus: defaultBus,
        description: 'Active Security Hub findings on session resources → tombstone',
        eventPattern: {
          source: ['aws.securityhub'],
          detailType: ['Security Hub Findings - Imported'],
          detail: {
            findings: {
              RecordState: ['ACTIVE'],
              Workflow: { Status: ['NEW'] },
              Severity: { Label: [...(props.securityHubSeverities ?? ['HIGH', 'CRITICAL'])] },
              Resources: { Tags: { [Tags.SessionId]: events.Match.exists() } },
            },
          },
        },
        targets: [target()],
      }),
    );

    // Known-good snapshots: one schedule fans out over the fleet (see docs/remediation.md for why).
    const intervals = Object.fromEntries(
      Object.entries(props.knownGoodIntervals ?? { default: Duration.hours(1) }).map(([k, d]) => [k, d.toSeconds()]),
    );
    this.knownGood = new AidopsFunction(this, 'KnownGood', {
      entry: 'lambdas/remediation/handlers/known-good.ts',
      description: 'Starts a known-good aidops-snapshot execution per active session at its profile interval',
      timeout: Duration.seconds(120),
      environment: {
        SNAPSHOT_MACHINE_ARN: props.snapshotMachine.stateMachineArn,
        KNOWN_GOOD_INTERVALS: JSON.stringify(intervals),
        KNOWN_GOOD_RETENTION_SECONDS: String((props.knownGoodRetention ?? Duration.days(7)).toSeconds()),
      },
    });
    props.snapshotMachine.grantStartExecution(this.knownGood.fn);
    this.knownGood.fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }),
    );
    Validations.of(this.knownGood.fn.role!).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeInstances does not support resource-level permissions.',
    });
    const schedulerRole = new iam.Role(this, 'KnownGoodSchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'EventBridge Scheduler: invoke the known-good fan-out',
    });
    new scheduler.Schedule(this, 'KnownGoodSchedule', {
      description: 'ai-desktop-ops: known-good snapshots of active sessions',
      schedule: scheduler.ScheduleExpression.rate(props.knownGoodTick ?? Duration.minutes(5)),
      target: new schedulerTargets.LambdaInvoke(this.knownGood.fn, {
        role: schedulerRole,
        retryAttempts: 2,
        maxEventAge: Duration.minutes(5),
      }),
    });
    const fnLogicalId = stack.resolve((this.knownGood.fn.node.defaultChild as CfnElement).logicalId) as string;
    Validations.of(schedulerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${fnLogicalId}.Arn>:*]`,
      reason: 'grantInvoke names the function and its versions; only the known-good fan-out is invocable.',
    });
    if (props.evidence) {
      const objects = `${nagArn(props.evidence.bucket)}/*`;
      const why =
        'Reads the session audit objects and writes evidence packets in the audit bucket (Object Lock forbids overwrites).';
      for (const f of [this.tombstone.functions.evidenceFn!, this.restore.functions.plan!]) {
        Validations.of(f.fn.role!).acknowledge({ id: `AwsSolutions-IAM5[Resource::${objects}]`, reason: why });
      }
      Validations.of(this.tombstone.functions.evidenceFn!.fn.role!).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagArn(props.evidence.bucket)}/${props.evidence.prefix ?? 'evidence/'}*]`,
        reason: 'Legal hold and retention on evidence packets only (the evidence/ prefix).',
      });
    }
  }
}

/**
 * How cdk-nag prints a bucket's ARN: `<Logical.Arn>` in the same stack, CDK's
 * export name across stacks (core's makeUniqueId over ['Exports', 'Output' + the
 * intrinsic as JSON]); the nag test catches drift.
 */
function nagArn(bucket: IConstruct): string {
  const stack = Stack.of(bucket);
  const logicalId = stack.resolve((bucket.node.defaultChild as CfnElement).logicalId) as string;
  const id = `Output${JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] })}`;
  const hash = createHash('md5').update(`Exports/${id}`).digest('hex').slice(0, 8).toUpperCase();
  return `${stack.stackName}:Exports${id.replace(/[^A-Za-z0-9]/g, '')}${hash}`;
}
