/**
 * Tombstone workflow (`aidops-tombstone`): contain a misbehaving session in
 * seconds, keep the evidence, open the incident.
 *
 *   [held? → wait for a blast-radius slot]
 *   Validate the request and find the instance      (1 read: DescribeInstances; a session instance only)
 *   Isolate the instance                             (transition → quarantine group first, then the rest)
 *   Revoke credentials                               (the role's revocation set, profile detached, secrets deleted)
 *   End the session                                  (session table: tombstoned; its workflow's callback answered)
 *   Freeze the instance                              (SSM stop-agent where reachable, else stop/hibernate) + wait
 *   Snapshot every volume (evidence)                 (aidops-snapshot child, .sync:2, legal-hold tags)
 *   Wait for the audit trail                         (bounded: the session's events up to the incident written)
 *   Write the evidence packet under legal hold       (audit bucket, Object Lock COMPLIANCE + legal hold)
 *   Open the incident ticket and notify              (SSM OpsItem + SNS)
 *
 * Revoking, ending the session and the snapshots may fail without stopping the
 * rest: the failure is recorded, a person is paged, and the packet says it is
 * incomplete and why. Isolation, the freeze and the packet itself may not.
 *
 * Input (console / CLI / trigger), see docs/console-inputs.md:
 *   { "sessionId": "ses-1234", "reason": "...", "source": "manual:INC-42", "requestedBy": "alice", "dryRun": false }
 * Output: { incidentId, sessionId, instanceId, quarantinedAt, securityGroups, packet, opsItem, snapshots, planned }
 *
 * The definition only: the functions (and their permissions) come from
 * lib/constructs/remediation/tombstone.ts.
 */
import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { AUDIT_TRAIL_BEHIND, ISOLATION_INCOMPLETE } from '../lambdas/remediation/errors.ts';
import { ErrorNames } from '../lambdas/shared/errors.ts';
import { transientRetry } from './common.ts';

/** The tombstone's Lambda tasks, one function each (the freeze check is the freeze function's second entry). */
export interface TombstoneFunctions {
  readonly validate: lambda.IFunction;
  readonly isolate: lambda.IFunction;
  readonly revoke: lambda.IFunction;
  /** Marks the session tombstoned and answers its workflow's pending callback. */
  readonly endSession: lambda.IFunction;
  readonly freeze: lambda.IFunction;
  readonly freezeCheck: lambda.IFunction;
  /** Is the session's audit trail written up to the incident? (throws AuditTrailBehindError while not) */
  readonly auditCheck: lambda.IFunction;
  readonly evidence: lambda.IFunction;
  readonly ticket: lambda.IFunction;
  /** Audits a failed step and pages a person. */
  readonly failure: lambda.IFunction;
  /** Claims a blast-radius slot for a held request. */
  readonly claimSlot: lambda.IFunction;
}

export interface TombstoneDefinitionProps {
  readonly functions: TombstoneFunctions;
  /** The aidops-snapshot machine, started as a child for the evidence snapshots. */
  readonly snapshotMachine: sfn.IStateMachine;
  /** Held requests give up after this many minute-long waits. @default 30 */
  readonly maxHeldMinutes?: number;
  /** How long the packet waits, at most, for the audit pipeline to write the session's events. @default 60 s */
  readonly auditWait?: Duration;
}

/** Retries of the audit check that wait about `wait` in all: 5 s, 15 s, 45 s, … */
function auditWaitRetry(wait: Duration): sfn.RetryProps {
  const first = 5;
  const backoff = 3;
  // first · (backoff^n − 1) / (backoff − 1) ≥ wait
  const attempts = Math.max(1, Math.ceil(Math.log((wait.toSeconds() * (backoff - 1)) / first + 1) / Math.log(backoff)));
  return {
    errors: [AUDIT_TRAIL_BEHIND],
    interval: Duration.seconds(first),
    backoffRate: backoff,
    maxAttempts: attempts,
  };
}

/** Errors the isolation step may end with that a second, re-reading attempt can fix. */
const ISOLATION_RETRYABLE = [
  ErrorNames.Transient,
  ErrorNames.EndpointUnreachable,
  ISOLATION_INCOMPLETE,
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

/** The tombstone state machine's definition, its states created in `scope`. */
export function tombstoneDefinition(scope: Construct, props: TombstoneDefinitionProps): sfn.IChainable {
  const fns = props.functions;
  const ctxPayload = { 'stateMachine.$': '$$.StateMachine.Name' };
  const recordFailure = (sid: string, page: boolean) =>
    new tasks.LambdaInvoke(scope, sid, {
      lambdaFunction: fns.failure,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        'executionId.$': '$$.Execution.Id',
        'input.$': '$$.Execution.Input',
        'failure.$': '$.failure',
        page,
      }),
      resultPath: '$.failureRecord',
    });
  const failed = new sfn.Fail(scope, 'Tombstone failed', {
    errorPath: '$.failure.Error',
    causePath: '$.failure.Cause',
  });
  const pageAndFail = recordFailure('Record the failure and page a person', true);
  pageAndFail.addRetry(transientRetry(3));
  pageAndFail.addCatch(failed, { resultPath: '$.failureRecordError' });
  pageAndFail.next(failed);
  const validationFailed = recordFailure('Record the failed validation', false);
  validationFailed.addCatch(failed, { resultPath: '$.failureRecordError' });
  validationFailed.next(failed);
  const catchAll = (t: sfn.TaskStateBase, to: sfn.IChainable = pageAndFail) =>
    t.addCatch(to, { errors: [sfn.Errors.ALL], resultPath: '$.failure' });

  // Held path: wait for a slot, page already sent by the trigger.
  const maxHeld = props.maxHeldMinutes ?? 30;
  const startHolding = new sfn.Pass(scope, 'Held by the blast-radius guard', {
    result: sfn.Result.fromObject({ attempt: 0, granted: false }),
    resultPath: '$.guard',
  });
  const waitSlot = new sfn.Wait(scope, 'Wait for a blast-radius slot', {
    time: sfn.WaitTime.duration(Duration.seconds(60)),
  });
  const claim = new tasks.LambdaInvoke(scope, 'Claim a blast-radius slot', {
    lambdaFunction: fns.claimSlot,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({ 'attempt.$': '$.guard.attempt' }),
    resultPath: '$.guard',
  });
  claim.addRetry(transientRetry());
  const guardTimeout = new sfn.Fail(scope, 'Still held: a person must decide', {
    error: 'BlastRadiusGuardTimeout',
    cause: `no blast-radius slot within ${maxHeld} minutes; the request was paged`,
  });

  const validate = new tasks.LambdaInvoke(scope, 'Validate the request and find the instance', {
    lambdaFunction: fns.validate,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({
      'request.$': '$$.Execution.Input',
      'executionId.$': '$$.Execution.Id',
      'executionName.$': '$$.Execution.Name',
    }),
    resultPath: '$.target',
  });
  validate.addRetry(transientRetry(4));
  catchAll(validate, validationFailed);

  const isolate = new tasks.LambdaInvoke(scope, 'Isolate the instance', {
    lambdaFunction: fns.isolate,
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
    payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', recheck: false, ...ctxPayload }),
    resultPath: '$.isolation',
  });
  // A failed first attempt goes to a second task that re-reads the interfaces first,
  // so no retry ever moves an already-quarantined interface back to the allow-all group.
  const isolateAgain = new tasks.LambdaInvoke(scope, 'Isolate again, re-reading the interfaces', {
    lambdaFunction: fns.isolate,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', recheck: true, ...ctxPayload }),
    resultPath: '$.isolation',
  });
  isolateAgain.addRetry({
    ...transientRetry(6),
    errors: ISOLATION_RETRYABLE,
  });
  isolate.addCatch(isolateAgain, {
    errors: ISOLATION_RETRYABLE,
    resultPath: '$.isolationFirstAttempt',
  });
  catchAll(isolate);
  catchAll(isolateAgain);

  const revoke = new tasks.LambdaInvoke(scope, 'Revoke credentials', {
    lambdaFunction: fns.revoke,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', ...ctxPayload }),
    resultPath: '$.credentials',
  });
  revoke.addRetry(transientRetry());

  /**
   * A step the tombstone can go on without: its failure is recorded and paged, and
   * `resultPath` gets a FailedStep (what the packet lists as incomplete).
   */
  const goOnWithout = (task: sfn.TaskStateBase, step: string, resultPath: string, next: sfn.IChainable) => {
    const failurePath = `${resultPath}Failure`;
    const record = new tasks.LambdaInvoke(scope, `Page a person: ${step} failed`, {
      lambdaFunction: fns.failure,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        'executionId.$': '$$.Execution.Id',
        'input.$': '$$.Execution.Input',
        'failure.$': failurePath,
        page: true,
        step,
      }),
      resultSelector: {
        failed: true,
        step,
        'error.$': '$.error',
        'cause.$': '$.cause',
        'paged.$': '$.paged',
        planned: [],
      },
      resultPath,
    });
    record.addRetry(transientRetry(3));
    // Even the page failed: go on all the same, with what the Catch said.
    const unrecorded = new sfn.Pass(scope, `Go on without: ${step}`, {
      parameters: {
        failed: true,
        step,
        'error.$': `${failurePath}.Error`,
        cause: 'the failure could not be recorded or paged',
        paged: false,
        planned: [],
      },
      resultPath,
    });
    record.addCatch(unrecorded, { errors: [sfn.Errors.ALL], resultPath: `${failurePath}Record` });
    task.addCatch(record, { errors: [sfn.Errors.ALL], resultPath: failurePath });
    record.next(next);
    unrecorded.next(next);
  };

  const endSession = new tasks.LambdaInvoke(scope, 'End the session', {
    lambdaFunction: fns.endSession,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', ...ctxPayload }),
    resultPath: '$.sessionEnd',
  });
  endSession.addRetry(transientRetry());

  const freeze = new tasks.LambdaInvoke(scope, 'Freeze the instance', {
    lambdaFunction: fns.freeze,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', ...ctxPayload }),
    resultPath: '$.freeze',
  });
  freeze.addRetry(transientRetry());
  catchAll(freeze);
  goOnWithout(revoke, 'Revoke credentials', '$.credentials', endSession);
  goOnWithout(endSession, 'End the session', '$.sessionEnd', freeze);
  const startFreezePoll = new sfn.Pass(scope, 'Start checking the freeze', {
    result: sfn.Result.fromObject({ attempt: 0 }),
    resultPath: '$.freezePoll',
  });
  const checkFreeze = new tasks.LambdaInvoke(scope, 'Check the freeze', {
    lambdaFunction: fns.freezeCheck,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', 'freeze.$': '$.freeze' }),
    resultPath: '$.freezeCheck',
  });
  checkFreeze.addRetry(transientRetry());
  catchAll(checkFreeze);
  const waitFreeze = new sfn.Wait(scope, 'Wait for the instance to stop', {
    time: sfn.WaitTime.duration(Duration.seconds(5)),
  });
  const countFreeze = new sfn.Pass(scope, 'Count the freeze checks', {
    parameters: { 'attempt.$': 'States.MathAdd($.freezePoll.attempt, 1)' },
    resultPath: '$.freezePoll',
  });

  const snapshot = new tasks.StepFunctionsStartExecution(scope, 'Snapshot every volume (evidence)', {
    stateMachine: props.snapshotMachine,
    integrationPattern: sfn.IntegrationPattern.RUN_JOB,
    associateWithParent: false,
    name: sfn.JsonPath.stringAt('$.target.evidenceExecutionName'),
    input: sfn.TaskInput.fromObject({
      'instanceId.$': '$.target.instanceId',
      'reason.$': "States.Format('tombstone {}', $.target.incidentId)",
      'incidentId.$': '$.target.incidentId',
      knownGood: false,
      legalHold: true,
    }),
    resultSelector: { 'snapshotIds.$': '$.Output.snapshotIds', 'executionArn.$': '$.ExecutionArn' },
    resultPath: '$.snapshots',
  });
  const snapshotFailed = new tasks.LambdaInvoke(scope, 'Record the snapshot failure and page a person', {
    lambdaFunction: fns.failure,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({
      'executionId.$': '$$.Execution.Id',
      'input.$': '$$.Execution.Input',
      'failure.$': '$.snapshotFailure',
      page: true,
      step: 'Snapshot every volume (evidence)',
    }),
    resultSelector: {
      snapshotIds: [],
      executionArn: null,
      failure: { 'error.$': '$.error', 'cause.$': '$.cause', 'paged.$': '$.paged' },
    },
    resultPath: '$.snapshots',
  });
  snapshotFailed.addRetry(transientRetry(3));
  const noSnapshots = new sfn.Pass(scope, 'Continue without snapshots', {
    parameters: {
      snapshotIds: [],
      executionArn: null,
      failure: {
        'error.$': '$.snapshotFailure.Error',
        cause: 'the failure could not be recorded or paged',
        paged: false,
      },
    },
    resultPath: '$.snapshots',
  });
  snapshot.addCatch(snapshotFailed, { errors: [sfn.Errors.ALL], resultPath: '$.snapshotFailure' });
  snapshotFailed.addCatch(noSnapshots, { resultPath: '$.snapshotFailureRecordError' });
  const skipSnapshots = new sfn.Pass(scope, 'Skip the snapshots (dry run)', {
    result: sfn.Result.fromObject({ snapshotIds: [], executionArn: null, skipped: 'dry run' }),
    resultPath: '$.snapshots',
  });

  // Bounded: the packet waits for the session's events up to the incident, then is written either way.
  const auditCheck = new tasks.LambdaInvoke(scope, 'Wait for the audit trail', {
    lambdaFunction: fns.auditCheck,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', ...ctxPayload }),
    resultPath: '$.auditTrail',
  });
  auditCheck.addRetry(auditWaitRetry(props.auditWait ?? Duration.seconds(60)));
  auditCheck.addRetry(transientRetry());
  const auditBehind = new sfn.Pass(scope, 'Go on with the audit trail behind');

  const evidence = new tasks.LambdaInvoke(scope, 'Write the evidence packet under legal hold', {
    lambdaFunction: fns.evidence,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({
      'target.$': '$.target',
      'isolation.$': '$.isolation',
      'credentials.$': '$.credentials',
      'sessionEnd.$': '$.sessionEnd',
      'freeze.$': '$.freeze',
      'snapshots.$': '$.snapshots',
      ...ctxPayload,
    }),
    resultPath: '$.evidence',
  });
  evidence.addRetry(transientRetry());
  catchAll(evidence);

  const ticket = new tasks.LambdaInvoke(scope, 'Open the incident ticket and notify', {
    lambdaFunction: fns.ticket,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({
      'target.$': '$.target',
      'isolation.$': '$.isolation',
      'evidence.$': '$.evidence',
      'snapshots.$': '$.snapshots',
      ...ctxPayload,
    }),
    resultPath: '$.ticket',
  });
  ticket.addRetry(transientRetry());
  catchAll(ticket);

  const done = new sfn.Pass(scope, 'Tombstone complete', {
    parameters: {
      'incidentId.$': '$.target.incidentId',
      'sessionId.$': '$.target.sessionId',
      'instanceId.$': '$.target.instanceId',
      'dryRun.$': '$.target.request.dryRun',
      'quarantinedAt.$': '$.isolation.quarantineAppliedAt',
      securityGroups: { 'before.$': '$.isolation.groupsBefore', 'after.$': '$.isolation.groupsAfter' },
      packet: {
        's3Uri.$': '$.evidence.s3Uri',
        'versionId.$': '$.evidence.versionId',
        'sha256.$': '$.evidence.sha256',
        'legalHold.$': '$.evidence.legalHold',
        'url.$': '$.evidence.url',
        'complete.$': '$.evidence.complete',
      },
      opsItem: { 'id.$': '$.ticket.opsItemId', 'url.$': '$.ticket.opsItemUrl' },
      'snapshots.$': '$.snapshots',
      'freeze.$': '$.freeze.mode',
      planned: {
        'isolation.$': '$.isolation.planned',
        'credentials.$': '$.credentials.planned',
        'freeze.$': '$.freeze.planned',
      },
    },
  });

  // Explicit wiring: the freeze poll is a loop, and Choice.afterwards() cannot see past one.
  const frozen = new sfn.Pass(scope, 'Frozen');
  checkFreeze.next(
    new sfn.Choice(scope, 'Frozen?')
      .when(sfn.Condition.booleanEquals('$.freezeCheck.done', true), frozen)
      // Not stopped after ~5 minutes: snapshot anyway (crash-consistent) rather than hold the evidence back.
      .when(
        sfn.Condition.numberGreaterThanEquals('$.freezePoll.attempt', 60),
        new sfn.Pass(scope, 'Give up waiting for the freeze').next(frozen),
      )
      .otherwise(waitFreeze),
  );
  waitFreeze.next(countFreeze).next(checkFreeze);
  frozen.next(
    new sfn.Choice(scope, 'Dry run?')
      .when(sfn.Condition.booleanEquals('$.target.request.dryRun', true), skipSnapshots)
      .otherwise(snapshot),
  );
  skipSnapshots.next(auditCheck);
  snapshot.next(auditCheck);
  snapshotFailed.next(auditCheck);
  noSnapshots.next(auditCheck);
  // The packet says whether the trail caught up; nothing here stops it being written.
  auditCheck.addCatch(auditBehind, { errors: [sfn.Errors.ALL], resultPath: '$.auditTrailBehind' });
  auditCheck.next(evidence);
  auditBehind.next(evidence);
  evidence.next(ticket).next(done);
  validate.next(isolate).next(revoke).next(endSession).next(freeze).next(startFreezePoll).next(checkFreeze);
  isolateAgain.next(revoke);

  startHolding
    .next(waitSlot)
    .next(claim)
    .next(
      new sfn.Choice(scope, 'Slot granted?')
        .when(sfn.Condition.booleanEquals('$.guard.granted', true), validate)
        .when(sfn.Condition.numberGreaterThanEquals('$.guard.attempt', maxHeld), guardTimeout)
        .otherwise(waitSlot),
    );
  // Two Choices: a comparison on a missing path is a runtime error, and `held` is optional.
  return new sfn.Choice(scope, 'Held by the guard?')
    .when(
      sfn.Condition.isPresent('$.held'),
      new sfn.Choice(scope, 'Held?')
        .when(sfn.Condition.booleanEquals('$.held', true), startHolding)
        .otherwise(validate),
    )
    .otherwise(validate);
}
