/**
 * The orphan sweeper: a scheduled function (not a state machine: one pass is a
 * few list calls and deletes, well inside a Lambda's 15 minutes) that removes
 * what no live session owns. Dry run by default on a new deployment.
 */
import { Aws, Duration, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { AidopsFunction } from '../lib/constructs/function.ts';

/** How cdk-nag renders an ARN built from the pseudo-parameter tokens. */
export function nagArn(s: string): string {
  return s
    .split(Aws.PARTITION)
    .join('<AWS::Partition>')
    .split(Aws.REGION)
    .join('<AWS::Region>')
    .split(Aws.ACCOUNT_ID)
    .join('<AWS::AccountId>');
}

export interface OrphanSweeperProps {
  readonly table: dynamodb.ITable;
  readonly auditBus: events.IEventBus;
  readonly secretArnPattern: string;
  readonly secretPrefix: string;
  /** Executions whose status decides liveness, e.g. `arn:...:execution:aidops-session:*`. */
  readonly executionArnPattern: string;
  /** @default true: report only */
  readonly dryRun?: boolean;
  /** @default Duration.minutes(15) */
  readonly rate?: Duration;
  /** @default Duration.minutes(10) */
  readonly grace?: Duration;
}

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
    props.table.grantReadData(this.fn.fn);
    props.auditBus.grantPutEventsTo(this.fn.fn);
    const fn = this.fn.fn;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'ec2:DescribeInstances',
          'ec2:DescribeVolumes',
          'ec2:DescribeSnapshots',
          'secretsmanager:ListSecrets',
        ],
        resources: ['*'],
      }),
    );
    // Only resources this project tagged as a session's.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:TerminateInstances', 'ec2:DeleteVolume', 'ec2:DeleteSnapshot'],
        resources: ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ec2:*:*:volume/*', 'arn:aws:ec2:*::snapshot/*'],
        conditions: { StringLike: { 'aws:ResourceTag/aidops:session-id': '*' } },
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:DeleteSecret'], resources: [props.secretArnPattern] }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [props.executionArnPattern] }),
    );
    this.rule = new events.Rule(this, 'Schedule', {
      description: 'ai-desktop-ops orphan sweeper',
      schedule: events.Schedule.rate(props.rate ?? Duration.minutes(15)),
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 2 })],
    });
    const role = fn.role!;
    for (const r of [
      '*',
      'arn:aws:ec2:*:*:instance/*',
      'arn:aws:ec2:*:*:volume/*',
      'arn:aws:ec2:*::snapshot/*',
      props.secretArnPattern,
      props.executionArnPattern,
    ])
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagArn(r)}]`,
        reason:
          r === '*'
            ? 'EC2 Describe* and secretsmanager:ListSecrets do not support resource-level permissions.'
            : 'Orphans are created at run time; deletes are limited to resources tagged with a session id (or the session secret prefix).',
      });
  }
}
