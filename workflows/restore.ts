/**
 * Restore workflow (`aidops-restore`): back to the last known-good state, with a
 * person's approval.
 *
 *   Choose the snapshot                 (last known-good root snapshot before the incident, or the one named)
 *   Wait for approval                   (.waitForTaskToken: `aidops incident approve|reject`, or send-task-success)
 *   Replace the root volume             (CreateReplaceRootVolumeTask; the instance stays quarantined meanwhile)
 *   Check the instance
 *   Release from quarantine | Terminate (as the approver chose)
 *
 * Input: { "sessionId": "ses-1234", "requestedBy": "alice", "snapshotId"?: "snap-…", "before"?: "ISO time" }
 * The approver sends { "decision": "release" | "terminate", "approver": "bob", "comment": "…" }
 * or fails the task with error "ApprovalRejected" (the session stays quarantined).
 *
 * The definition only: the functions (and their permissions) come from
 * lib/constructs/remediation/restore.ts.
 */
import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { APPROVAL_REJECTED } from '../lambdas/remediation/errors.ts';
import { transientRetry } from './common.ts';

/** The restore's Lambda tasks (one function each, entries of lambdas/remediation/handlers/restore.ts). */
export interface RestoreFunctions {
  readonly plan: lambda.IFunction;
  readonly approval: lambda.IFunction;
  readonly replace: lambda.IFunction;
  readonly check: lambda.IFunction;
  readonly release: lambda.IFunction;
  readonly terminate: lambda.IFunction;
  readonly keep: lambda.IFunction;
}

export interface RestoreDefinitionProps {
  readonly functions: RestoreFunctions;
  /** How long a restore waits for a person. @default Duration.days(3) */
  readonly approvalTimeout?: Duration;
}

/** The restore state machine's definition, its states created in `scope`. */
export function restoreDefinition(scope: Construct, props: RestoreDefinitionProps): sfn.IChainable {
  const f = props.functions;
  const task = (sid: string, fnc: lambda.IFunction, payload: Record<string, unknown>, resultPath: string) => {
    const t = new tasks.LambdaInvoke(scope, sid, {
      lambdaFunction: fnc,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject(payload),
      resultPath,
    });
    t.addRetry(transientRetry());
    return t;
  };
  const failed = new sfn.Fail(scope, 'Restore failed', { errorPath: '$.failure.Error', causePath: '$.failure.Cause' });
  const catchAll = (t: sfn.TaskStateBase) => t.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.failure' });

  const plan = task(
    'Choose the snapshot',
    f.plan,
    { 'request.$': '$$.Execution.Input', 'executionId.$': '$$.Execution.Id' },
    '$.plan',
  );
  catchAll(plan);
  const approval = new tasks.LambdaInvoke(scope, 'Wait for approval', {
    lambdaFunction: f.approval,
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: sfn.TaskInput.fromObject({ token: sfn.JsonPath.taskToken, 'plan.$': '$.plan' }),
    resultPath: '$.approval',
    taskTimeout: sfn.Timeout.duration(props.approvalTimeout ?? Duration.days(3)),
  });
  const keep = task(
    'Keep the session quarantined',
    f.keep,
    { 'plan.$': '$.plan', 'rejection.$': '$.rejection' },
    '$.outcome',
  );
  catchAll(keep);
  approval.addCatch(keep, { errors: [APPROVAL_REJECTED, sfn.Errors.TIMEOUT], resultPath: '$.rejection' });
  catchAll(approval);
  const rejected = new sfn.Succeed(scope, 'Session stays quarantined');
  keep.next(rejected);

  const startReplace = new sfn.Pass(scope, 'Start the replacement', {
    result: sfn.Result.fromObject({ phase: 'not-started' }),
    resultPath: '$.replace',
  });
  const replace = task(
    'Replace the root volume',
    f.replace,
    { 'plan.$': '$.plan', 'approval.$': '$.approval', 'progress.$': '$.replace' },
    '$.replace',
  );
  catchAll(replace);
  const waitReplace = new sfn.Wait(scope, 'Wait for the replacement', {
    time: sfn.WaitTime.duration(Duration.seconds(10)),
  });
  const replaceFailed = new sfn.Fail(scope, 'Root volume replacement failed', {
    error: 'ReplaceRootVolumeFailed',
    cause: 'the replace-root-volume task failed; the instance stays quarantined',
  });
  const check = task('Check the instance', f.check, { 'plan.$': '$.plan' }, '$.check');
  catchAll(check);
  const unhealthy = new sfn.Fail(scope, 'Instance check failed', {
    error: 'InstanceCheckFailed',
    cause: 'the instance is not running on a new root volume; it stays quarantined',
  });
  const releaseT = task(
    'Release from quarantine',
    f.release,
    { 'plan.$': '$.plan', 'approval.$': '$.approval', 'check.$': '$.check' },
    '$.release',
  );
  catchAll(releaseT);
  const terminateT = task(
    'Terminate the instance',
    f.terminate,
    { 'plan.$': '$.plan', 'approval.$': '$.approval' },
    '$.terminate',
  );
  catchAll(terminateT);
  const summary = (sid: string, outcome: string) =>
    new sfn.Pass(scope, sid, {
      parameters: {
        outcome,
        'sessionId.$': '$.plan.sessionId',
        'instanceId.$': '$.plan.instanceId',
        'snapshotId.$': '$.plan.snapshot.id',
        'approval.$': '$.approval',
        'packet.$': '$.plan.packet',
      },
    });

  return plan.next(approval).next(
    new sfn.Choice(scope, 'Release or terminate?')
      .when(
        sfn.Condition.stringEquals('$.approval.decision', 'terminate'),
        terminateT.next(summary('Terminated', 'terminated')),
      )
      .when(
        sfn.Condition.stringEquals('$.approval.decision', 'release'),
        startReplace.next(replace).next(
          new sfn.Choice(scope, 'Replacement done?')
            .when(sfn.Condition.stringEquals('$.replace.phase', 'failed'), replaceFailed)
            .when(
              sfn.Condition.booleanEquals('$.replace.done', true),
              check.next(
                new sfn.Choice(scope, 'Instance healthy?')
                  .when(
                    sfn.Condition.booleanEquals('$.check.healthy', true),
                    releaseT.next(summary('Restored and released', 'released')),
                  )
                  .otherwise(unhealthy),
              ),
            )
            .otherwise(waitReplace.next(replace)),
        ),
      )
      .otherwise(
        new sfn.Fail(scope, 'Unknown decision', {
          error: 'InvalidApproval',
          cause: 'decision must be release or terminate',
        }),
      ),
  );
}
