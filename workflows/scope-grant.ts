/**
 * Scope-grant workflow (`aidops-scope-grant`): a session asks for a scope, a
 * second principal approves it, the session holds it until it expires.
 *
 *   Record request ──► Wait for approval ──► Answer ──► Granted | Rejected
 *                        (task token on        │
 *                         the request item)    └─ refused (self-approval, malformed) ──► time left? ──► wait again
 *                        timeout / failure ──► Expire request ──► Expired
 *
 * Input (the guest door for an agent's request, or a person; name the execution
 * with the request id): { "sessionId", "scope": "write:/finance", "requestedBy",
 * "reason", "ttlSeconds"?, "approvalTimeoutSeconds"? }.
 * The wait parks its task token on the request item in the scope-request table
 * (`taskToken`, through the step function), where the people's door finds it and answers SendTaskSuccess with
 * `{ "approverArn", "decision": "approve"|"reject", "reason" }`
 * (lambdas/sessions/scopes.ts `ApprovalPayload`); the answer step enforces the
 * two-person rule again (TwoPersonRuleError), and a refused answer leaves the
 * request pending for someone else until its deadline.
 * Output: { outcome: granted|rejected|expired, requestId, sessionId, scope, expiresAt? }.
 * A bad request (unknown or ended session, malformed input) fails the execution with
 * the error's name (ValidationError, NotFoundError, ConflictError).
 *
 * This module builds the definition only, from the function it is given; the
 * construct (lib/constructs/scopes.ts) creates it, grants it and makes the machine.
 */
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { ScopeErrorNames } from '../lambdas/sessions/scopes.ts';
import { ErrorNames } from '../lambdas/shared/errors.ts';
import { transientRetry } from './common.ts';

export interface ScopeGrantDefinitionProps {
  /** lambdas/sessions/handlers/scope-step.ts: request, park, answer, refused, expire. */
  readonly step: lambda.IFunction;
}

export function scopeGrantDefinition(scope: Construct, props: ScopeGrantDefinitionProps): sfn.IChainable {
  const step = (name: string, payload: Record<string, unknown>, resultPath: string) => {
    const t = new tasks.LambdaInvoke(scope, name, {
      lambdaFunction: props.step,
      payload: sfn.TaskInput.fromObject(payload),
      payloadResponseOnly: true,
      resultPath,
    });
    t.addRetry(transientRetry());
    return t;
  };
  const requestId = '$.request.requestId';

  const record = step(
    'Record request',
    { step: 'request', 'requestId.$': '$$.Execution.Name', 'input.$': '$' },
    '$.request',
  );
  const invalid = new sfn.Fail(scope, 'Request refused', {
    comment: 'Unknown or ended session, or a malformed request: the error is its name.',
    errorPath: '$.error.Error',
    causePath: '$.error.Cause',
  });
  record.addCatch(invalid, {
    errors: [ErrorNames.Validation, ErrorNames.NotFound, ErrorNames.Conflict],
    resultPath: '$.error',
  });

  const expired = new sfn.Pass(scope, 'Expired', {
    parameters: {
      outcome: 'expired',
      'requestId.$': '$.request.requestId',
      'sessionId.$': '$.request.sessionId',
      'scope.$': '$.request.scope',
    },
  });
  const expire = (name: string, reason: Record<string, string>) =>
    step(name, { step: 'expire', 'requestId.$': requestId, ...reason }, '$.closed').next(expired);

  // The wait's timeout is what is left of the request's approval window. The number sits at
  // `$.Payload.remainingSeconds` both in the state input (what AWS reads) and in the task's
  // parameters (what aws-local-stepfunctions reads), as in the session workflow.
  const approvalWindow = new sfn.Pass(scope, 'Approval window', {
    parameters: { 'remainingSeconds.$': '$.request.remainingSeconds' },
    resultPath: '$.Payload',
  });
  const wait = new tasks.LambdaInvoke(scope, 'Wait for approval', {
    lambdaFunction: props.step,
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: sfn.TaskInput.fromObject({
      // Parks the token on the request item, where the people's door finds it by request id.
      step: 'park',
      'requestId.$': requestId,
      taskToken: sfn.JsonPath.taskToken,
      'executionArn.$': '$$.Execution.Id',
      'remainingSeconds.$': '$.Payload.remainingSeconds',
    }),
    taskTimeout: sfn.Timeout.at('$.Payload.remainingSeconds'),
    resultPath: '$.approval',
  });
  // A failed park is retried with a fresh token; the item then holds the new one.
  wait.addRetry(transientRetry(3));
  wait.addCatch(expire('Expire request', { reason: 'no approval before the deadline' }), {
    errors: [sfn.Errors.TIMEOUT, sfn.Errors.HEARTBEAT_TIMEOUT],
    resultPath: '$.waitError',
  });
  wait.addCatch(
    expire('Close failed approval', {
      'reason.$': "States.Format('the approval wait failed: {}: {}', $.waitError.Error, $.waitError.Cause)",
    }),
    { errors: [sfn.Errors.ALL], resultPath: '$.waitError' },
  );

  const answer = step('Answer', { step: 'answer', 'requestId.$': requestId, 'approval.$': '$.approval' }, '$.answer');
  const refused = step(
    'Answer refused',
    { step: 'refused', 'requestId.$': requestId, 'error.$': '$.refusal' },
    '$.request',
  ).next(
    new sfn.Choice(scope, 'Time left?')
      .when(sfn.Condition.numberGreaterThanEquals('$.request.remainingSeconds', 1), approvalWindow)
      .otherwise(expire('Expire after refusal', { reason: 'no valid approval before the deadline' })),
  );
  answer.addCatch(refused, { errors: [ScopeErrorNames.TwoPersonRule, ErrorNames.Validation], resultPath: '$.refusal' });
  answer.addCatch(
    expire('Close: cannot grant', {
      'reason.$': "States.Format('cannot grant: {}: {}', $.answerError.Error, $.answerError.Cause)",
    }),
    { errors: [ErrorNames.Conflict, ErrorNames.NotFound], resultPath: '$.answerError' },
  );

  const decided = (name: string) =>
    new sfn.Pass(scope, name, {
      parameters: {
        'outcome.$': '$.answer.status',
        'requestId.$': '$.answer.requestId',
        'sessionId.$': '$.answer.sessionId',
        'scope.$': '$.answer.scope',
        'decidedBy.$': '$.answer.decidedBy',
      },
    });
  const granted = new sfn.Pass(scope, 'Granted', {
    parameters: {
      'outcome.$': '$.answer.status',
      'requestId.$': '$.answer.requestId',
      'sessionId.$': '$.answer.sessionId',
      'scope.$': '$.answer.scope',
      'decidedBy.$': '$.answer.decidedBy',
      'expiresAt.$': '$.answer.expiresAt',
    },
  });

  approvalWindow
    .next(wait)
    .next(answer)
    .next(
      new sfn.Choice(scope, 'Outcome?')
        .when(sfn.Condition.stringEquals('$.answer.status', 'granted'), granted)
        .otherwise(decided('Rejected')),
    );
  return record.next(approvalWindow);
}
