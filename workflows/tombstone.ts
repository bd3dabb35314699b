/**
 * Tombstone workflow (`aidops-tombstone`): contain a misbehaving session in
 * seconds, keep the evidence, open the incident.
 *
 *   [held? → wait for a blast-radius slot]
 *   Validate the request and find the instance      (1 read: DescribeInstances)
 *   Isolate the instance                             (transition → quarantine group first, then the rest)
 *   Revoke credentials                               (deny-before-now on the role, profile detached, secrets deleted)
 *   Freeze the instance                              (SSM stop-agent where reachable, else stop/hibernate) + wait
 *   Snapshot every volume (evidence)                 (aidops-snapshot child, .sync:2, legal-hold tags)
 *   Write the evidence packet under legal hold       (audit bucket, Object Lock COMPLIANCE + legal hold)
 *   Open the incident ticket and notify              (SSM OpsItem + SNS)
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
import { ISOLATION_INCOMPLETE } from '../lambdas/remediation/errors.ts';
import { ErrorNames } from '../lambdas/shared/errors.ts';
import { transientRetry } from './common.ts';

/** The tombstone's Lambda tasks, one function each (the freeze check is the freeze function's second entry). */
export interface TombstoneFunctions {
  readonly validate: lambda.IFunction;
  readonly isolate: lambda.IFunction;
  readonly revoke: lambda.IFunction;
  readonly freeze: lambda.IFunction;
  readonly freezeCheck: lambda.IFunction;
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
  catchAll(revoke);

  const freeze = new tasks.LambdaInvoke(scope, 'Freeze the instance', {
    lambdaFunction: fns.freeze,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', ...ctxPayload }),
    resultPath: '$.freeze',
  });
  freeze.addRetry(transientRetry());
  catchAll(freeze);
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
    }),
    resultPath: '$.snapshotFailureRecord',
  });
  snapshotFailed.addRetry(transientRetry(3));
  const noSnapshots = new sfn.Pass(scope, 'Continue without snapshots', {
    result: sfn.Result.fromObject({ snapshotIds: [], executionArn: null }),
    resultPath: '$.snapshots',
  });
  snapshot.addCatch(snapshotFailed, { errors: [sfn.Errors.ALL], resultPath: '$.snapshotFailure' });
  snapshotFailed.addCatch(noSnapshots, { resultPath: '$.snapshotFailureRecordError' });
  snapshotFailed.next(noSnapshots);
  const skipSnapshots = new sfn.Pass(scope, 'Skip the snapshots (dry run)', {
    result: sfn.Result.fromObject({ snapshotIds: [], executionArn: null, skipped: 'dry run' }),
    resultPath: '$.snapshots',
  });

  const evidence = new tasks.LambdaInvoke(scope, 'Write the evidence packet under legal hold', {
    lambdaFunction: fns.evidence,
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({
      'target.$': '$.target',
      'isolation.$': '$.isolation',
      'credentials.$': '$.credentials',
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
  skipSnapshots.next(evidence);
  snapshot.next(evidence);
  evidence.next(ticket).next(done);
  validate.next(isolate).next(revoke).next(freeze).next(startFreezePoll).next(checkFreeze);
  isolateAgain.next(revoke);
  noSnapshots.next(evidence);

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
