/**
 * Snapshot workflow: crash-consistent, tagged, known-good snapshots of every
 * EBS volume of a session's instance, waited on with bounded backoff.
 *
 * Input (console / CLI / scheduler):
 *   { "sessionId": "ses-1234", "reason": "hourly known-good", "expiresAt": "2026-12-06T00:00:00Z" }
 *   or { "instanceId": "i-0abc...", "reason": "..." }
 * Output: { instanceId, sessionId, snapshotIds, expiresAt, reason }
 * Errors: ValidationError (bad input), InstanceNotFoundError, SnapshotFailed, SnapshotTimeout.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { AidopsFunction } from '../lib/constructs/function.ts';
import { AidopsStateMachine, acknowledgeInvokeVersions } from '../lib/constructs/workflow.ts';
import { ec2ReadRetry, transientRetry } from './common.ts';

export interface SnapshotWorkflowProps {
  /** @default 'aidops-snapshot' */
  readonly stateMachineName?: string;
  /** @default no alarm action */
  readonly alarmTopic?: sns.ITopic;
  /** Polls before giving up on a pending snapshot. @default 12 */
  readonly maxPolls?: number;
}

export class SnapshotWorkflow extends Construct {
  readonly machine: AidopsStateMachine;
  readonly prepareFn: AidopsFunction;
  readonly createFn: AidopsFunction;

  constructor(scope: Construct, id: string, props: SnapshotWorkflowProps = {}) {
    super(scope, id);
    this.prepareFn = new AidopsFunction(this, 'Prepare', {
      entry: 'lambdas/remediation/handlers/snapshot-prepare.ts',
      description: 'Snapshot workflow: validate the request and resolve the session instance and its volumes',
    });
    this.createFn = new AidopsFunction(this, 'Create', {
      entry: 'lambdas/remediation/handlers/snapshot-create.ts',
      description: 'Snapshot workflow: CreateSnapshots for every volume, once per request id',
    });
    // Describe* calls cannot be scoped to resources (EC2 does not support it).
    this.prepareFn.fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }),
    );
    this.createFn.fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeSnapshots'], resources: ['*'] }));
    this.createFn.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:CreateSnapshots', 'ec2:CreateSnapshot'],
        resources: ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ec2:*:*:volume/*', 'arn:aws:ec2:*::snapshot/*'],
      }),
    );
    this.createFn.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:CreateTags'],
        resources: ['arn:aws:ec2:*::snapshot/*'],
        conditions: { StringEquals: { 'ec2:CreateAction': ['CreateSnapshots', 'CreateSnapshot'] } },
      }),
    );

    const maxPolls = props.maxPolls ?? 12;
    const validate = new tasks.LambdaInvoke(this, 'Validate request and find the instance', {
      lambdaFunction: this.prepareFn.fn,
      payload: sfn.TaskInput.fromObject({ 'request.$': '$', 'requestId.$': '$$.Execution.Name' }),
      payloadResponseOnly: true,
      // ResultPath defaults to '$' (replace the state's input). Left implicit on purpose:
      // aws-local-stepfunctions mishandles an explicit "$" (it adds a "$" key).
    });
    validate.addRetry(transientRetry());

    const create = new tasks.LambdaInvoke(this, 'Snapshot every volume', {
      lambdaFunction: this.createFn.fn,
      payloadResponseOnly: true,
      resultPath: '$.created',
    });
    create.addRetry(transientRetry());

    const startPolling = new sfn.Pass(this, 'Start polling', {
      result: sfn.Result.fromObject({ attempt: 0, waitSeconds: 2 }),
      resultPath: '$.poll',
    });
    const check = new tasks.CallAwsService(this, 'Check snapshot progress', {
      service: 'ec2',
      action: 'describeSnapshots',
      parameters: { 'SnapshotIds.$': '$.created.snapshotIds' },
      iamResources: ['*'],
      iamAction: 'ec2:DescribeSnapshots',
      resultSelector: { 'states.$': '$.Snapshots[*].State' },
      resultPath: '$.progress',
    });
    check.addRetry(ec2ReadRetry());
    const summarize = new sfn.Pass(this, 'Summarize progress', {
      parameters: {
        'pending.$': "States.ArrayContains($.progress.states, 'pending')",
        'failed.$': "States.ArrayContains($.progress.states, 'error')",
      },
      resultPath: '$.progressFlags',
    });
    const backoff = new sfn.Pass(this, 'Back off', {
      parameters: {
        'attempt.$': 'States.MathAdd($.poll.attempt, 1)',
        'waitSeconds.$': 'States.MathAdd($.poll.waitSeconds, $.poll.waitSeconds)',
      },
      resultPath: '$.poll',
    });
    const capWait = new sfn.Pass(this, 'Cap the wait at 60 seconds', {
      parameters: { 'attempt.$': '$.poll.attempt', waitSeconds: 60 },
      resultPath: '$.poll',
    });
    const wait = new sfn.Wait(this, 'Wait for snapshots', { time: sfn.WaitTime.secondsPath('$.poll.waitSeconds') });
    const failed = new sfn.Fail(this, 'Snapshot failed', {
      error: 'SnapshotFailed',
      cause: 'EC2 reported a snapshot in state error',
    });
    const timedOut = new sfn.Fail(this, 'Snapshots still pending', {
      error: 'SnapshotTimeout',
      cause: `snapshots were still pending after ${maxPolls} polls`,
    });
    const done = new sfn.Pass(this, 'Snapshots taken', {
      parameters: {
        'instanceId.$': '$.instanceId',
        'sessionId.$': '$.sessionId',
        'snapshotIds.$': '$.created.snapshotIds',
        'expiresAt.$': '$.expiresAt',
        'reason.$': '$.reason',
      },
    });

    const waitLoop = backoff.next(
      new sfn.Choice(this, 'Wait too long?')
        .when(sfn.Condition.numberGreaterThan('$.poll.waitSeconds', 60), capWait.next(wait))
        .otherwise(wait),
    );
    wait.next(check);
    const definition = validate
      .next(create)
      .next(startPolling)
      .next(check)
      .next(summarize)
      .next(
        new sfn.Choice(this, 'All snapshots complete?')
          .when(sfn.Condition.booleanEquals('$.progressFlags.failed', true), failed)
          .when(sfn.Condition.booleanEquals('$.progressFlags.pending', false), done)
          .when(sfn.Condition.numberGreaterThanEquals('$.poll.attempt', maxPolls), timedOut)
          .otherwise(waitLoop),
      );

    this.machine = new AidopsStateMachine(this, 'Machine', {
      stateMachineName: props.stateMachineName ?? 'aidops-snapshot',
      definition,
      timeout: Duration.hours(2),
      comment: 'Known-good snapshots of every EBS volume of a session instance',
      alarmTopic: props.alarmTopic,
    });
    acknowledgeInvokeVersions(this.machine, [this.prepareFn.fn, this.createFn.fn]);
    Validations.of(this.prepareFn.fn.role!).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeInstances does not support resource-level permissions.',
    });
    Validations.of(this.createFn.fn.role!).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeSnapshots does not support resource-level permissions.',
    });
    for (const r of ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ec2:*:*:volume/*', 'arn:aws:ec2:*::snapshot/*']) {
      Validations.of(this.createFn.fn.role!).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${r}]`,
        reason:
          'Session instances, volumes and snapshots are created at run time; their ids cannot be known at deploy.',
      });
    }
    Validations.of(this.machine.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeSnapshots (progress polling) does not support resource-level permissions.',
    });
  }
}
