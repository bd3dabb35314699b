/**
 * Known-good snapshots on a schedule: one EventBridge Scheduler schedule invokes
 * a fan-out function that starts an aidops-snapshot execution per active session
 * at its profile's interval (see docs/remediation.md for why one schedule).
 */
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { acknowledge, grantAcknowledged, nagResource } from '../../nag.ts';
import { AidopsFunction } from '../function.ts';

export interface KnownGoodScheduleProps {
  /** The aidops-snapshot machine. */
  readonly snapshotMachine: sfn.IStateMachine;
  /** How often the fan-out looks at the fleet. @default Duration.minutes(5) */
  readonly tick?: Duration;
  /** Snapshot interval per session profile (tag aidops:profile). @default { default: 1 hour } */
  readonly intervals?: Readonly<Record<string, Duration>>;
  /** Known-good snapshots expire (the sessions sweeper deletes them) after. @default 7 days */
  readonly retention?: Duration;
}

export class KnownGoodSchedule extends Construct {
  readonly fn: AidopsFunction;

  constructor(scope: Construct, id: string, props: KnownGoodScheduleProps) {
    super(scope, id);
    const intervals = Object.fromEntries(
      Object.entries(props.intervals ?? { default: Duration.hours(1) }).map(([k, d]) => [k, d.toSeconds()]),
    );
    this.fn = new AidopsFunction(this, 'KnownGood', {
      entry: 'lambdas/remediation/handlers/known-good.ts',
      description: 'Starts a known-good aidops-snapshot execution per active session at its profile interval',
      timeout: Duration.seconds(120),
      environment: {
        SNAPSHOT_MACHINE_ARN: props.snapshotMachine.stateMachineArn,
        KNOWN_GOOD_INTERVALS: JSON.stringify(intervals),
        KNOWN_GOOD_RETENTION_SECONDS: String((props.retention ?? Duration.days(7)).toSeconds()),
      },
    });
    props.snapshotMachine.grantStartExecution(this.fn.fn);
    grantAcknowledged(
      this.fn.fn.role!,
      new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }),
      'ec2:DescribeInstances does not support resource-level permissions.',
    );
    const role = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'EventBridge Scheduler: invoke the known-good fan-out',
    });
    new scheduler.Schedule(this, 'Schedule', {
      description: 'ai-desktop-ops: known-good snapshots of active sessions',
      schedule: scheduler.ScheduleExpression.rate(props.tick ?? Duration.minutes(5)),
      target: new schedulerTargets.LambdaInvoke(this.fn.fn, {
        role,
        retryAttempts: 2,
        maxEventAge: Duration.minutes(5),
      }),
    });
    // The target's grantInvoke names the function and its versions (`<fn>:*`).
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::${nagResource(role, `${this.fn.fn.functionArn}:*`)}]`,
      'grantInvoke names the function and its versions; only the known-good fan-out is invocable.',
    );
  }
}
