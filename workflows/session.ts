/**
 * The session workflow (Standard, durable): request → active → teardown.
 *
 *   Admit request → Issue nonce → Stage secrets → Launch instance → wait until running
 *   (bounded backoff) → Wait for attestation (.waitForTaskToken, heartbeat + timeout)
 *   → Secrets released → Active: wait for the end signal or the TTL (.waitForTaskToken)
 *   → Teardown → Session ended.
 *
 * Every state after admission catches every error into Teardown; admission
 * refusals end in "Refused" before anything exists. Attestation failure or
 * timeout ends in teardown, or (onAttestationFailure: tombstone) starts
 * `aidops-tombstone` first, falling back to teardown if it fails or is absent.
 *
 * A tombstone ends the session it contains: it marks the session and answers the
 * pending callback with SessionTombstonedError (a step that tries to move a marked
 * session fails with it too). That is caught into a teardown that keeps the
 * instance and its volumes (evidence), and the session ends in "Session
 * tombstoned" (a success: the tombstone itself pages), never in "Teardown failed".
 *
 * Input (console / `aidops session start`):
 *   { "sessionId": "ses-7f3a9c", "user": "alice@example.com", "cohort": "default",
 *     "useCase": "financial-operations", "tier": "high", "ttl": "2h", "capabilities": ["file-write"] }
 * The two callbacks are answered by session id: the evidence function (attestation)
 * and `aidops session end` (end signal) read the tokens from the session table.
 */
import type { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { SessionErrorNames } from '../lambdas/sessions/model.ts';
import { SESSION_TOMBSTONED } from '../lambdas/sessions/table.ts';
import { ec2ReadRetry, transientRetry } from './common.ts';

export interface SessionWorkflowFunctions {
  readonly admit: lambda.IFunction;
  readonly nonce: lambda.IFunction;
  readonly stageSecrets: lambda.IFunction;
  readonly launch: lambda.IFunction;
  readonly record: lambda.IFunction;
  readonly teardown: lambda.IFunction;
}

export interface SessionDefinitionProps {
  readonly functions: SessionWorkflowFunctions;
  /** The session table: the attestation wait parks its task token on the session item. */
  readonly table: dynamodb.ITable;
  /** Launch + boot + attestation must finish within this. */
  readonly attestationTimeout: Duration;
  /** The guest (through the evidence function) heartbeats at least this often while booting. */
  readonly attestationHeartbeat: Duration;
  /** Polls of DescribeInstances before the launch counts as failed. */
  readonly maxRunningPolls: number;
  /** @default 'teardown' */
  readonly onAttestationFailure?: 'teardown' | 'tombstone';
  /** The tombstone machine's physical name (the environment's, from lambdas/shared/names.ts). */
  readonly tombstoneMachineName: string;
}

/**
 * The session workflow's definition, its states created in `scope`. The construct
 * that owns the functions makes the state machine from it (lib/constructs/sessions/workflow.ts).
 */
export function sessionDefinition(scope: Construct, props: SessionDefinitionProps): sfn.IChainable {
  const f = props.functions;
  const lambdaTask = (name: string, fn: lambda.IFunction, payload: Record<string, unknown>, resultPath?: string) => {
    const t = new tasks.LambdaInvoke(scope, name, {
      lambdaFunction: fn,
      payload: sfn.TaskInput.fromObject(payload),
      payloadResponseOnly: true,
      ...(resultPath === undefined ? {} : { resultPath }),
    });
    t.addRetry(transientRetry());
    return t;
  };
  const sessionOnly = { 'session.$': '$.session' };

  // ---- teardown: the one exit after admission ----
  const teardown = lambdaTask(
    'Teardown',
    f.teardown,
    {
      'sessionId.$': '$.session.sessionId',
      'executionArn.$': '$$.Execution.Id',
      'user.$': '$.session.user',
      'policyVersion.$': '$.session.policyVersion',
      'teardown.$': '$.teardown',
    },
    '$.torn',
  );
  const teardownFailed = new sfn.Fail(scope, 'Teardown failed', {
    error: 'TeardownFailed',
    cause: 'teardown did not complete; the orphan sweeper will remove what is left',
  });
  teardown.addCatch(teardownFailed, { errors: ['States.ALL'], resultPath: '$.teardownError' });
  const ended = new sfn.Succeed(scope, 'Session ended');
  const tombstonedEnd = new sfn.Succeed(scope, 'Session tombstoned', {
    comment: 'A tombstone contained the session; its instance and volumes are kept as evidence.',
  });
  const failedEnd = new sfn.Fail(scope, 'Session failed', {
    errorPath: '$.teardown.stage',
    causePath: '$.torn.reason',
  });
  // The teardown's own outcome: a session a tombstone marked ends tombstoned whatever path led here.
  teardown.next(
    new sfn.Choice(scope, 'Ended normally?')
      .when(sfn.Condition.stringEquals('$.torn.outcome', 'ended'), ended)
      .when(sfn.Condition.stringEquals('$.torn.outcome', 'tombstoned'), tombstonedEnd)
      .otherwise(failedEnd),
  );
  /** A Pass that says why we tear down, then Teardown. */
  const toTeardown = (name: string, params: Record<string, unknown>) =>
    new sfn.Pass(scope, name, { parameters: params, resultPath: '$.teardown' }).next(teardown);
  const failures = new Map<string, sfn.IChainable>();
  const failedAt = (stage: string): sfn.IChainable => {
    let s = failures.get(stage);
    if (!s) {
      s = toTeardown(`Failed: ${stage}`, { outcome: 'failed', stage, 'failure.$': '$.failure' });
      failures.set(stage, s);
    }
    return s;
  };
  // A tombstone ended the session: keep the instance (evidence).
  const byTombstone = toTeardown('Tombstoned by remediation', {
    outcome: 'tombstoned',
    stage: 'tombstone',
    keepInstance: true,
    'failure.$': '$.failure',
  });
  const catchTombstone = (t: sfn.TaskStateBase) =>
    t.addCatch(byTombstone, { errors: [SESSION_TOMBSTONED], resultPath: '$.failure' });
  const catchInto = (t: sfn.TaskStateBase, stage: string) => {
    catchTombstone(t);
    t.addCatch(failedAt(stage), { errors: ['States.ALL'], resultPath: '$.failure' });
  };

  // ---- admission ----
  const admit = new tasks.LambdaInvoke(scope, 'Admit request', {
    lambdaFunction: f.admit,
    payload: sfn.TaskInput.fromObject({
      'request.$': '$',
      'requestId.$': '$$.Execution.Name',
      'executionArn.$': '$$.Execution.Id',
    }),
    payloadResponseOnly: true,
    resultSelector: { 'session.$': '$' },
    // Replaces the raw request with { session }: later states read only the checked context.
  });
  admit.addRetry(transientRetry());
  const refused = new sfn.Fail(scope, 'Refused', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
  // Refusals (ValidationError, AdmissionDeniedError, ConflictError) and anything else: nothing exists yet.
  admit.addCatch(refused, { errors: ['States.ALL'], resultPath: '$.error' });

  const nonce = lambdaTask('Issue nonce', f.nonce, sessionOnly, '$.nonce');
  catchInto(nonce, 'nonce');
  const stage = lambdaTask('Stage secrets', f.stageSecrets, sessionOnly, '$.staged');
  catchInto(stage, 'secrets');
  const launch = lambdaTask('Launch instance', f.launch, sessionOnly, '$.launch');
  catchInto(launch, 'launch');

  // ---- wait until running (bounded backoff) ----
  const startPolling = new sfn.Pass(scope, 'Start polling', {
    result: sfn.Result.fromObject({ attempt: 0, waitSeconds: 2 }),
    resultPath: '$.poll',
  });
  const check = new tasks.CallAwsService(scope, 'Check instance state', {
    service: 'ec2',
    action: 'describeInstances',
    parameters: { 'InstanceIds.$': 'States.Array($.launch.instanceId)' },
    iamResources: ['*'],
    iamAction: 'ec2:DescribeInstances',
    resultSelector: { 'state.$': '$.Reservations[0].Instances[0].State.Name' },
    resultPath: '$.instance',
  });
  check.addRetry(ec2ReadRetry());
  catchInto(check, 'launch');
  const backoff = new sfn.Pass(scope, 'Back off', {
    parameters: {
      'attempt.$': 'States.MathAdd($.poll.attempt, 1)',
      'waitSeconds.$': 'States.MathAdd($.poll.waitSeconds, $.poll.waitSeconds)',
    },
    resultPath: '$.poll',
  });
  const capWait = new sfn.Pass(scope, 'Cap the wait at 30 seconds', {
    parameters: { 'attempt.$': '$.poll.attempt', waitSeconds: 30 },
    resultPath: '$.poll',
  });
  const wait = new sfn.Wait(scope, 'Wait for the instance', { time: sfn.WaitTime.secondsPath('$.poll.waitSeconds') });
  wait.next(check);
  const notRunning = new sfn.Pass(scope, 'Instance did not start', {
    parameters: {
      Error: SessionErrorNames.LaunchFailed,
      'Cause.$': "States.Format('instance {} is {}', $.launch.instanceId, $.instance.state)",
    },
    resultPath: '$.failure',
  }).next(failedAt('boot'));

  // ---- attestation ----
  const booted = lambdaTask(
    'Record instance running',
    f.record,
    {
      'session.$': '$.session',
      status: 'attesting',
      step: 'instance running',
      'instanceId.$': '$.launch.instanceId',
    },
    sfn.JsonPath.DISCARD,
  );
  catchInto(booted, 'boot');
  const waitAttestation = new tasks.CallAwsService(scope, 'Wait for attestation', {
    service: 'dynamodb',
    action: 'updateItem',
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    parameters: {
      TableName: props.table.tableName,
      Key: { sessionId: { 'S.$': '$.session.sessionId' } },
      // The evidence function finds the token by session id. A session a tombstone marked stays marked.
      UpdateExpression: 'SET attestToken = :t, #st = :s',
      ConditionExpression: 'attribute_exists(sessionId) AND attribute_not_exists(tombstonedBy)',
      ExpressionAttributeNames: { '#st': 'status' },
      ExpressionAttributeValues: { ':t': { 'S.$': '$$.Task.Token' }, ':s': { S: 'attesting' } },
    },
    iamResources: [props.table.tableArn],
    iamAction: 'dynamodb:UpdateItem',
    taskTimeout: sfn.Timeout.duration(props.attestationTimeout),
    heartbeatTimeout: sfn.Timeout.duration(props.attestationHeartbeat),
    resultPath: '$.attestation',
  });

  let attestationFailed: sfn.IChainable = failedAt('attestation');
  if (props.onAttestationFailure === 'tombstone') {
    const name = props.tombstoneMachineName;
    const tomb = new tasks.StepFunctionsStartExecution(scope, 'Tombstone the session', {
      stateMachine: sfn.StateMachine.fromStateMachineName(scope, 'Tombstone', name),
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      input: sfn.TaskInput.fromObject({
        'sessionId.$': '$.session.sessionId',
        'reason.$': "States.Format('attestation failed: {}', $.failure.Error)",
        source: 'aidops-session',
        requestedBy: 'aidops-session',
      }),
      name: sfn.JsonPath.format('{}-tombstone', sfn.JsonPath.stringAt('$.session.sessionId')),
      resultPath: '$.tombstone',
    });
    // Absent or failed tombstone machine: tear down as if tombstoning were off.
    tomb.addCatch(failedAt('attestation'), { errors: ['States.ALL'], resultPath: '$.tombstoneError' });
    attestationFailed = tomb.next(
      toTeardown('Tombstoned', {
        outcome: 'tombstoned',
        stage: 'attestation',
        keepInstance: true,
        'failure.$': '$.failure',
      }),
    );
  }
  catchTombstone(waitAttestation);
  waitAttestation.addCatch(attestationFailed, { errors: ['States.ALL'], resultPath: '$.failure' });

  // Its result goes to `$.Payload` so the next state's TimeoutSecondsPath finds the remaining TTL
  // both in the state input (AWS) and in the task's Payload (aws-local-stepfunctions reads it there).
  const released = lambdaTask(
    'Secrets released',
    f.record,
    {
      'session.$': '$.session',
      status: 'active',
      step: 'attested; secrets released',
      'instanceId.$': '$.launch.instanceId',
      note: 'attestation verified',
    },
    '$.Payload',
  );
  catchInto(released, 'activation');

  // ---- active until the end signal or the TTL ----
  const active = new tasks.LambdaInvoke(scope, 'Active: wait for end or TTL', {
    lambdaFunction: f.record,
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: sfn.TaskInput.fromObject({
      'session.$': '$.session',
      status: 'active',
      step: 'waiting for the end signal or the TTL',
      'instanceId.$': '$.launch.instanceId',
      // `aidops session end` finds the token on the session item.
      endToken: sfn.JsonPath.taskToken,
      'remainingSeconds.$': '$.Payload.remainingSeconds',
    }),
    // The rest of the TTL (counted from admission), computed by "Secrets released".
    taskTimeout: sfn.Timeout.at('$.Payload.remainingSeconds'),
    resultPath: '$.end',
  });
  active.addRetry(transientRetry());
  active.addCatch(toTeardown('TTL reached', { outcome: 'ended', stage: 'ttl', 'failure.$': '$.failure' }), {
    errors: ['States.Timeout'],
    resultPath: '$.failure',
  });
  catchTombstone(active);
  active.addCatch(failedAt('active'), { errors: ['States.ALL'], resultPath: '$.failure' });
  const endSignal = toTeardown('End requested', { outcome: 'ended', stage: 'end-signal', 'signal.$': '$.end' });

  const definition = admit
    .next(nonce)
    .next(stage)
    .next(launch)
    .next(startPolling)
    .next(check)
    .next(
      new sfn.Choice(scope, 'Running?')
        .when(sfn.Condition.stringEquals('$.instance.state', 'running'), booted)
        .when(
          sfn.Condition.and(
            sfn.Condition.stringEquals('$.instance.state', 'pending'),
            sfn.Condition.numberLessThan('$.poll.attempt', props.maxRunningPolls),
          ),
          backoff.next(
            new sfn.Choice(scope, 'Wait too long?')
              .when(sfn.Condition.numberGreaterThan('$.poll.waitSeconds', 30), capWait.next(wait))
              .otherwise(wait),
          ),
        )
        .otherwise(notRunning),
    );
  booted.next(waitAttestation).next(released).next(active).next(endSignal);
  return definition;
}
