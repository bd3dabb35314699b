/**
 * The automatic path into the tombstone: three EventBridge rules (the project's
 * own events on the audit bus (SuspiciousEgress acted on by the session's tier:
 * tombstone or page), GuardDuty findings and Security Hub findings from
 * trusted products on the default bus) → one trigger function (idempotent per
 * event, blast-radius guarded, switchable to dry run, reads real tags in EC2) →
 * the tombstone machine. A fourth rule gives the session lock back when a
 * tombstone execution ends unsuccessfully. Failed deliveries land in a dead-letter queue.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as ssm from 'aws-cdk-lib/aws-ssm';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { type EgressActions, parseEgressActions } from '../../../lambdas/remediation/trigger/egress-actions.ts';
import { OWN_DETAIL_TYPES, OWN_SOURCE_PREFIX } from '../../../lambdas/remediation/trigger/event.ts';
import { UNSUCCESSFUL } from '../../../lambdas/remediation/trigger/release.ts';
import { Tags } from '../../../lambdas/shared/tags.ts';
import { acknowledge, grantAcknowledged } from '../../nag.ts';
import { namesOf } from '../../names.ts';
import { AidopsFunction } from '../function.ts';
import { executionsArn } from './arns.ts';

export interface TombstoneTriggersProps {
  readonly tombstoneMachine: sfn.IStateMachine;
  /** The bus the project's own events (and audit events) travel on. */
  readonly eventBus: events.IEventBus;
  /** Where AWS services publish findings and execution status changes. */
  readonly findingsBus: events.IEventBus;
  /** Encrypts the rules' dead-letter queue (its policy must let EventBridge use it). @default SQS-managed */
  readonly key?: kms.IKey;
  readonly incidentTable: dynamodb.ITable;
  /** The automatic-path dry-run switch. */
  readonly dryRunParameter: ssm.IStringParameter;
  /** Pages when the blast-radius guard holds a request. */
  readonly notifyTopic: sns.ITopic;
  /** Tombstones a minute fleet-wide before automatic requests are held. @default 5 */
  readonly maxTombstonesPerMinute?: number;
  /** GuardDuty findings at or above this severity on a session instance trigger a tombstone. @default 7 (high) */
  readonly guardDutyMinSeverity?: number;
  /** Security Hub severity labels that trigger a tombstone. @default ['HIGH', 'CRITICAL'] */
  readonly securityHubSeverities?: readonly string[];
  /**
   * Security Hub products whose findings may tombstone: product ARNs, or `aws/<product>` ids for the
   * stack's partition and region. @default Security Hub, GuardDuty and Inspector
   */
  readonly trustedFindingProducts?: readonly string[];
  /** Where a session's tier is read: SuspiciousEgress acts by it. @default none (every tier unknown: the high tier's action) */
  readonly sessionTable?: dynamodb.ITable;
  /** What SuspiciousEgress does, by tier. @default high → tombstone, medium and low → alert */
  readonly egressActions?: Partial<EgressActions>;
}

/** Security Hub's own, GuardDuty's and Inspector's findings (AWS services: no account can import as them). */
export const DEFAULT_TRUSTED_FINDING_PRODUCTS = ['aws/securityhub', 'aws/guardduty', 'aws/inspector'] as const;

/** A product ARN; an `aws/<product>` id becomes the ARN in the stack's partition and region. */
function productArn(scope: Construct, product: string): string {
  if (product.startsWith('arn:')) return product;
  return Stack.of(scope).formatArn({ service: 'securityhub', account: '', resource: 'product', resourceName: product });
}

export class TombstoneTriggers extends Construct {
  readonly fn: AidopsFunction;
  /** Gives the session lock back when a tombstone execution ends unsuccessfully. */
  readonly releaseFn: AidopsFunction;
  readonly rules: events.Rule[];
  readonly trustedProducts: string[];

  constructor(scope: Construct, id: string, props: TombstoneTriggersProps) {
    super(scope, id);
    const machine = props.tombstoneMachine;
    this.trustedProducts = (props.trustedFindingProducts ?? DEFAULT_TRUSTED_FINDING_PRODUCTS).map((p) =>
      productArn(this, p),
    );
    this.fn = new AidopsFunction(this, 'Trigger', {
      entry: 'lambdas/remediation/handlers/trigger.ts',
      description: 'Starts at most one tombstone per session and triggering event (guarded, dry-run switch)',
      timeout: Duration.seconds(30),
      environment: {
        TOMBSTONE_MACHINE_ARN: machine.stateMachineArn,
        DRY_RUN_PARAMETER: props.dryRunParameter.parameterName,
        INCIDENT_TABLE: props.incidentTable.tableName,
        MAX_TOMBSTONES_PER_MINUTE: String(props.maxTombstonesPerMinute ?? 5),
        NOTIFY_TOPIC_ARN: props.notifyTopic.topicArn,
        AUDIT_BUS_NAME: props.eventBus.eventBusName,
        TRUSTED_FINDING_PRODUCTS: Stack.of(this).toJsonString(this.trustedProducts),
        EGRESS_ACTIONS: JSON.stringify(parseEgressActions(props.egressActions ?? {})),
        ...(props.sessionTable ? { SESSION_TABLE: props.sessionTable.tableName } : {}),
      },
    });
    const fn = this.fn.fn;
    machine.grantStartExecution(fn);
    grantAcknowledged(
      fn.role!,
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution'],
        resources: [executionsArn(this, namesOf(this).tombstoneMachine)],
      }),
      'DescribeExecution on the tombstone machine’s executions (the trigger checks for a redelivery).',
    );
    grantAcknowledged(
      fn.role!,
      new iam.PolicyStatement({ actions: ['ec2:DescribeTags'], resources: ['*'] }),
      'ec2:DescribeTags does not support resource-level permissions (the trigger reads the real tags of the resource a finding names).',
    );
    props.dryRunParameter.grantRead(fn);
    props.incidentTable.grantReadWriteData(fn);
    props.sessionTable?.grantReadData(fn);
    props.notifyTopic.grantPublish(fn);
    props.eventBus.grantPutEventsTo(fn);

    const dlq = new sqs.Queue(this, 'DeadLetters', {
      ...(props.key
        ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: props.key }
        : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(dlq, 'AwsSolutions-SQS3', 'This queue is the dead-letter queue of the trigger rules.');
    const target = () =>
      new targets.LambdaFunction(fn, { deadLetterQueue: dlq, retryAttempts: 8, maxEventAge: Duration.hours(2) });
    this.rules = [
      new events.Rule(this, 'OwnEvents', {
        eventBus: props.eventBus,
        description:
          'PolicyViolation, AttestationFailed, SuspiciousWrite, SuspiciousEgress (by tier) from aidops components → trigger',
        eventPattern: {
          source: events.Match.prefix(OWN_SOURCE_PREFIX),
          detailType: [...OWN_DETAIL_TYPES],
          detail: { sessionId: events.Match.exists() },
        },
        targets: [target()],
      }),
      new events.Rule(this, 'GuardDutyFindings', {
        eventBus: props.findingsBus,
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
        eventBus: props.findingsBus,
        description: 'Active Security Hub findings on session resources → tombstone',
        eventPattern: {
          source: ['aws.securityhub'],
          detailType: ['Security Hub Findings - Imported'],
          detail: {
            findings: {
              // Anyone allowed BatchImportFindings imports under the account's own product: trust named products only.
              ProductArn: this.trustedProducts,
              RecordState: ['ACTIVE'],
              Workflow: { Status: ['NEW'] },
              Severity: { Label: [...(props.securityHubSeverities ?? ['HIGH', 'CRITICAL'])] },
              Resources: { Tags: { [Tags.SessionId]: events.Match.exists() } },
            },
          },
        },
        targets: [target()],
      }),
    ];

    this.releaseFn = new AidopsFunction(this, 'ReleaseLock', {
      entry: 'lambdas/remediation/handlers/trigger.ts',
      handler: 'releaseLock',
      description: 'Gives the session lock back when a tombstone execution fails, times out or is aborted',
      timeout: Duration.seconds(30),
      environment: { INCIDENT_TABLE: props.incidentTable.tableName },
    });
    props.incidentTable.grantReadWriteData(this.releaseFn.fn);
    grantAcknowledged(
      this.releaseFn.fn.role!,
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution'],
        resources: [executionsArn(this, namesOf(this).tombstoneMachine)],
      }),
      'DescribeExecution on the executions of the tombstone machine (their input names the session when the event does not).',
    );
    this.rules.push(
      new events.Rule(this, 'TombstoneEndedUnsuccessfully', {
        eventBus: props.findingsBus,
        description: 'A tombstone execution failed, timed out or was aborted → release its session lock',
        eventPattern: {
          source: ['aws.states'],
          detailType: ['Step Functions Execution Status Change'],
          detail: { status: [...UNSUCCESSFUL], stateMachineArn: [machine.stateMachineArn] },
        },
        targets: [
          new targets.LambdaFunction(this.releaseFn.fn, {
            deadLetterQueue: dlq,
            retryAttempts: 8,
            maxEventAge: Duration.hours(2),
          }),
        ],
      }),
    );
  }
}
