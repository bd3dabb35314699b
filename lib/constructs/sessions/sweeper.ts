/**
 * The orphan sweeper: a scheduled function (not a state machine: one pass is a
 * few list calls and deletes, well inside a Lambda's 15 minutes) that removes
 * what no live session owns. Dry run by default on a new deployment.
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { grantAcknowledged } from '../../nag.ts';
import { AidopsFunction } from '../function.ts';
import { ec2Arns, secretArn, sessionExecutionsArn } from './arns.ts';

export interface OrphanSweeperProps {
  readonly table: dynamodb.ITable;
  readonly auditBus: events.IEventBus;
  /** A session's secrets bundle is `${secretPrefix}${sessionId}`. */
  readonly secretPrefix: string;
  /** @default true: report only */
  readonly dryRun?: boolean;
  /** @default Duration.minutes(15) */
  readonly rate?: Duration;
  /** @default Duration.minutes(10) */
  readonly grace?: Duration;
}

const ORPHANS =
  'Orphans are created at run time; deletes are limited to resources tagged with a session id (or the session secret prefix).';

export class OrphanSweeper extends Construct {
  readonly fn: AidopsFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: OrphanSweeperProps) {
    super(scope, id);
    this.fn = new AidopsFunction(this, 'Fn', {
      entry: 'lambdas/sessions/handlers/sweeper.ts',
      description: 'Removes instances, volumes, expired snapshots and secrets of sessions that are no longer live',
      timeout: Duration.minutes(5),
      // One sweep at a time: two would race on the same orphans.
      reservedConcurrentExecutions: 1,
      environment: {
        SESSION_TABLE: props.table.tableName,
        SECRET_PREFIX: props.secretPrefix,
        AUDIT_BUS_NAME: props.auditBus.eventBusName,
        DRY_RUN: String(props.dryRun ?? true),
        GRACE_SECONDS: String((props.grace ?? Duration.minutes(10)).toSeconds()),
      },
    });
    const fn = this.fn.fn;
    const role = fn.role!;
    props.table.grantReadData(fn);
    props.auditBus.grantPutEventsTo(fn);
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: [
          'ec2:DescribeInstances',
          'ec2:DescribeVolumes',
          'ec2:DescribeSnapshots',
          'secretsmanager:ListSecrets',
        ],
        resources: ['*'],
      }),
      'EC2 Describe* and secretsmanager:ListSecrets do not support resource-level permissions.',
    );
    // Only resources this project tagged as a session's.
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['ec2:TerminateInstances', 'ec2:DeleteVolume', 'ec2:DeleteSnapshot'],
        resources: [ec2Arns(this, 'instance'), ec2Arns(this, 'volume'), ec2Arns(this, 'snapshot')],
        conditions: { StringLike: { 'aws:ResourceTag/aidops:session-id': '*' } },
      }),
      ORPHANS,
    );
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['secretsmanager:DeleteSecret'],
        resources: [secretArn(this, `${props.secretPrefix}*`)],
      }),
      ORPHANS,
    );
    // A session whose execution has ended is not live, whatever its record says.
    grantAcknowledged(
      role,
      new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [sessionExecutionsArn(this)] }),
      'Session executions are named at run time (one per session).',
    );
    this.rule = new events.Rule(this, 'Schedule', {
      description: 'ai-desktop-ops orphan sweeper',
      schedule: events.Schedule.rate(props.rate ?? Duration.minutes(15)),
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 2 })],
    });
  }
}
