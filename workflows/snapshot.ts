/**
 * Snapshot workflow (`aidops-snapshot`): crash-consistent, tagged, known-good
 * snapshots of every EBS volume of a session's instance, waited on with bounded
 * backoff.
 *
 * Input (console / CLI / scheduler):
 *   { "sessionId": "ses-1234", "reason": "hourly known-good", "expiresAt": "2026-12-06T00:00:00Z" }
 *   or { "instanceId": "i-0abc...", "reason": "..." }
 * Output: { instanceId, sessionId, snapshotIds, expiresAt, reason }
 * Errors: ValidationError (bad input), InstanceNotFoundError, SnapshotFailed, SnapshotTimeout.
 *
 * The definition only: the functions (and their permissions) come from
 * lib/constructs/remediation/snapshot.ts.
 */
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { ec2ReadRetry, transientRetry } from './common.ts';

export interface SnapshotDefinitionProps {
  readonly functions: {
    /** Validates the request, resolves the instance and its volumes. */
    readonly prepare: lambda.IFunction;
    /** CreateSnapshots for every volume, once per request id. */
    readonly create: lambda.IFunction;
  };
  /** Polls before giving up on a pending snapshot. @default 12 */
  readonly maxPolls?: number;
}

/**
 * The snapshot state machine's definition, its states created in `scope`. The
 * progress check is an SDK task (ec2:DescribeSnapshots, which has no resource-level
 * permissions): the machine's role gets that action on `*` from the task itself.
 */
export function snapshotDefinition(scope: Construct, props: SnapshotDefinitionProps): sfn.IChainable {
  const maxPolls = props.maxPolls ?? 12;
  const validate = new tasks.LambdaInvoke(scope, 'Validate request and find the instance', {
    lambdaFunction: props.functions.prepare,
    payload: sfn.TaskInput.fromObject({ 'request.$': '$', 'requestId.$': '$$.Execution.Name' }),
    payloadResponseOnly: true,
    // ResultPath defaults to '$' (replace the state's input). Left implicit on purpose:
    // aws-local-stepfunctions mishandles an explicit "$" (it adds a "$" key).
  });
  validate.addRetry(transientRetry());

  const create = new tasks.LambdaInvoke(scope, 'Snapshot every volume', {
    lambdaFunction: props.functions.create,
    payloadResponseOnly: true,
    resultPath: '$.created',
  });
  create.addRetry(transientRetry());

  const startPolling = new sfn.Pass(scope, 'Start polling', {
    result: sfn.Result.fromObject({ attempt: 0, waitSeconds: 2 }),
    resultPath: '$.poll',
  });
  const check = new tasks.CallAwsService(scope, 'Check snapshot progress', {
    service: 'ec2',
    action: 'describeSnapshots',
    parameters: { 'SnapshotIds.$': '$.created.snapshotIds' },
    iamResources: ['*'],
    iamAction: 'ec2:DescribeSnapshots',
    resultSelector: { 'states.$': '$.Snapshots[*].State' },
    resultPath: '$.progress',
  });
  check.addRetry(ec2ReadRetry());
  const summarize = new sfn.Pass(scope, 'Summarize progress', {
    parameters: {
      'pending.$': "States.ArrayContains($.progress.states, 'pending')",
      'failed.$': "States.ArrayContains($.progress.states, 'error')",
    },
    resultPath: '$.progressFlags',
  });
  const backoff = new sfn.Pass(scope, 'Back off', {
    parameters: {
      'attempt.$': 'States.MathAdd($.poll.attempt, 1)',
      'waitSeconds.$': 'States.MathAdd($.poll.waitSeconds, $.poll.waitSeconds)',
    },
    resultPath: '$.poll',
  });
  const capWait = new sfn.Pass(scope, 'Cap the wait at 60 seconds', {
    parameters: { 'attempt.$': '$.poll.attempt', waitSeconds: 60 },
    resultPath: '$.poll',
  });
  const wait = new sfn.Wait(scope, 'Wait for snapshots', { time: sfn.WaitTime.secondsPath('$.poll.waitSeconds') });
  const failed = new sfn.Fail(scope, 'Snapshot failed', {
    error: 'SnapshotFailed',
    cause: 'EC2 reported a snapshot in state error',
  });
  const timedOut = new sfn.Fail(scope, 'Snapshots still pending', {
    error: 'SnapshotTimeout',
    cause: `snapshots were still pending after ${maxPolls} polls`,
  });
  const done = new sfn.Pass(scope, 'Snapshots taken', {
    parameters: {
      'instanceId.$': '$.instanceId',
      'sessionId.$': '$.sessionId',
      'snapshotIds.$': '$.created.snapshotIds',
      'expiresAt.$': '$.expiresAt',
      'reason.$': '$.reason',
    },
  });

  const waitLoop = backoff.next(
    new sfn.Choice(scope, 'Wait too long?')
      .when(sfn.Condition.numberGreaterThan('$.poll.waitSeconds', 60), capWait.next(wait))
      .otherwise(wait),
  );
  wait.next(check);
  return validate
    .next(create)
    .next(startPolling)
    .next(check)
    .next(summarize)
    .next(
      new sfn.Choice(scope, 'All snapshots complete?')
        .when(sfn.Condition.booleanEquals('$.progressFlags.failed', true), failed)
        .when(sfn.Condition.booleanEquals('$.progressFlags.pending', false), done)
        .when(sfn.Condition.numberGreaterThanEquals('$.poll.attempt', maxPolls), timedOut)
        .otherwise(waitLoop),
    );
}
