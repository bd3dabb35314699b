/**
 * Plugin admission workflow: a plugin version and its Sigstore bundle staged in the
 * staging bucket → verify (signature, transparency log, digest) → trust policy →
 * a person's approval when the policy asks for it → registry record → a `decision`
 * audit event for every verdict.
 *
 * Input (console / CLI):
 *   { "pluginId": "pdf-tools", "version": "1.4.0", "key": "staging/pdf-tools/1.4.0/pdf-tools.tgz",
 *     "bundleKey": "staging/pdf-tools/1.4.0/pdf-tools.tgz.sigstore.json", "requestedBy": "alice@example.com" }
 *   (`bucket` defaults to the staging bucket, `requestedBy` to "admission-workflow").
 * Output (admitted): { verdict: "admitted", pluginId, version, digest, publisher, approvedBy,
 *   admittedAt, expiresAt, decisionEventId }
 * A refusal FAILS the execution with the reason code as the error name (DIGEST_MISMATCH,
 * IDENTITY_MISMATCH, …, APPROVAL_DENIED, APPROVAL_TIMEOUT, APPROVAL_INVALID, REGISTRY_CONFLICT)
 * and the message as the cause, after its deny decision is on the audit bus. Infrastructure
 * errors (NotFoundError, TrustedRootStaleError, ValidationError, …) fail it with their own name.
 *
 * This module builds the definition only, from the functions it is given; the
 * construct (lib/constructs/plugins-workflow.ts) creates them, grants them and
 * makes the state machine.
 */
import type { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { APPROVAL_DENIED_ERROR, type WorkflowReason } from '../lambdas/plugins/workflow.ts';
import { ErrorNames } from '../lambdas/shared/errors.ts';
import { transientRetry } from './common.ts';

/** The functions the admission's tasks invoke (lambdas/plugins/handlers/*). */
export interface PluginAdmissionSteps {
  /** verify-staged.ts: Sigstore + SLSA verification and the trust policy. */
  readonly verifyStaged: lambda.IFunction;
  /** record-admission.ts: the registry record. */
  readonly recordAdmission: lambda.IFunction;
  /** publish-decision.ts: every verdict's decision event on the audit bus. */
  readonly publishDecision: lambda.IFunction;
  /** request-approval.ts: tells the approvers, with the task token. */
  readonly requestApproval: lambda.IFunction;
}

export interface PluginAdmissionDefinitionProps {
  readonly steps: PluginAdmissionSteps;
  /** The bucket an input without `bucket` is read from. */
  readonly stagingBucketName: string;
  /** Hard limit on a pending approval. */
  readonly approvalTimeout: Duration;
  /** Silence after which a pending approval lapses (an approver extends it with SendTaskHeartbeat). */
  readonly approvalHeartbeat: Duration;
}

/** The admission workflow's definition; its states are created (and named) in `scope`. */
export function pluginAdmissionDefinition(scope: Construct, props: PluginAdmissionDefinitionProps): sfn.IChainable {
  const { steps, approvalTimeout, approvalHeartbeat } = props;
  const applyDefaults = new sfn.Pass(scope, 'Apply defaults', {
    parameters: {
      defaults: { bucket: props.stagingBucketName, requestedBy: 'admission-workflow' },
      'input.$': '$',
    },
  });
  const buildRequest = new sfn.Pass(scope, 'Build request', {
    parameters: { 'request.$': 'States.JsonMerge($.defaults, $.input, false)' },
  });

  const verify = new tasks.LambdaInvoke(scope, 'Verify bundle and check trust policy', {
    lambdaFunction: steps.verifyStaged,
    // InputPath, not a payload path: with payloadResponseOnly a path payload renders as invalid Parameters.
    inputPath: '$.request',
    payloadResponseOnly: true,
    resultPath: '$.verification',
  });
  verify.addRetry(transientRetry());

  const publish = (name: string, payload: Record<string, unknown>, resultPath: string) => {
    const t = new tasks.LambdaInvoke(scope, name, {
      lambdaFunction: steps.publishDecision,
      payload: sfn.TaskInput.fromObject(payload),
      payloadResponseOnly: true,
      resultPath,
    });
    t.addRetry(transientRetry());
    return t;
  };
  const publishVerdict = publish(
    'Publish verification decision',
    { 'decision.$': '$.verification.decision' },
    '$.verificationEvent',
  );

  const refused = new sfn.Fail(scope, 'Refused', {
    comment: 'The reason code is the error name; the deny decision event is already on the audit bus.',
    errorPath: '$.refusal.reason',
    causePath: '$.refusal.message',
  });
  const verificationRefusal = new sfn.Pass(scope, 'Refused by verification or policy', {
    parameters: { 'reason.$': '$.verification.reason', 'message.$': '$.verification.message' },
    resultPath: '$.refusal',
  });
  const publishRefusal = publish(
    'Publish refusal decision',
    {
      refusal: {
        'pluginId.$': '$.request.pluginId',
        'version.$': '$.request.version',
        'reason.$': '$.refusal.reason',
        'message.$': '$.refusal.message',
        by: 'admission-workflow',
      },
    },
    '$.refusalEvent',
  ).next(refused);
  const refuse = (name: string, reason: WorkflowReason, message: string | { path: string }) =>
    new sfn.Pass(scope, name, {
      parameters: typeof message === 'string' ? { reason, message } : { reason, 'message.$': message.path },
      resultPath: '$.refusal',
    }).next(publishRefusal);

  const waitForApproval = new tasks.LambdaInvoke(scope, 'Wait for approval', {
    lambdaFunction: steps.requestApproval,
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: sfn.TaskInput.fromObject({
      taskToken: sfn.JsonPath.taskToken,
      'executionArn.$': '$$.Execution.Id',
      'request.$': '$.request',
      'facts.$': '$.verification.facts',
      'message.$': '$.verification.message',
    }),
    taskTimeout: sfn.Timeout.duration(approvalTimeout),
    heartbeatTimeout: sfn.Timeout.duration(approvalHeartbeat),
    resultPath: '$.approval',
  });
  // A failed notification is retried (with a fresh token); answering an old token is then refused.
  waitForApproval.addRetry(transientRetry(3));
  waitForApproval.addCatch(refuse('Approval denied', 'APPROVAL_DENIED', { path: '$.approvalError.Cause' }), {
    errors: [APPROVAL_DENIED_ERROR],
    resultPath: '$.approvalError',
  });
  waitForApproval.addCatch(
    refuse(
      'Approval lapsed',
      'APPROVAL_TIMEOUT',
      `no answer within ${approvalTimeout.toHumanString()} (or ${approvalHeartbeat.toHumanString()} without a heartbeat)`,
    ),
    { errors: [sfn.Errors.TIMEOUT, sfn.Errors.HEARTBEAT_TIMEOUT], resultPath: '$.approvalError' },
  );

  const record = new tasks.LambdaInvoke(scope, 'Record admission in the registry', {
    lambdaFunction: steps.recordAdmission,
    payload: sfn.TaskInput.fromObject({
      'facts.$': '$.verification.facts',
      'admittedBy.$': '$.request.requestedBy',
      'approvedBy.$': '$.approval.approvedBy',
    }),
    payloadResponseOnly: true,
    resultPath: '$.recorded',
  });
  record.addRetry(transientRetry());
  record.addCatch(refuse('Registry conflict', 'REGISTRY_CONFLICT', { path: '$.recordError.Cause' }), {
    errors: [ErrorNames.Conflict],
    resultPath: '$.recordError',
  });
  record.addCatch(refuse('Approval missing', 'APPROVAL_INVALID', { path: '$.recordError.Cause' }), {
    errors: [ErrorNames.Forbidden],
    resultPath: '$.recordError',
  });

  const admitted = new sfn.Pass(scope, 'Admitted', {
    parameters: {
      verdict: 'admitted',
      'pluginId.$': '$.recorded.record.pluginId',
      'version.$': '$.recorded.record.version',
      'digest.$': '$.recorded.record.digest',
      'publisher.$': '$.recorded.record.publisher',
      'approvedBy.$': '$.recorded.record.approvedBy',
      'admittedAt.$': '$.recorded.record.admittedAt',
      'expiresAt.$': '$.recorded.record.expiresAt',
      'decisionEventId.$': '$.admissionEvent.eventId',
    },
  });
  const recordAndPublish = record
    .next(publish('Publish admission decision', { 'decision.$': '$.recorded.decision' }, '$.admissionEvent'))
    .next(admitted);

  const noApproval = new sfn.Pass(scope, 'No approval needed', {
    result: sfn.Result.fromObject({ approvedBy: null }),
    resultPath: '$.approval',
  }).next(recordAndPublish);

  // Separation of duties: an approval must name the approver, who is not the requester.
  const checkApproval = new sfn.Choice(scope, 'Approval valid?')
    .when(
      sfn.Condition.not(sfn.Condition.isPresent('$.approval.approvedBy')),
      refuse('Approval without approver', 'APPROVAL_INVALID', 'the approval output must be {"approvedBy": "<id>"}'),
    )
    .when(
      sfn.Condition.not(sfn.Condition.isString('$.approval.approvedBy')),
      refuse('Approver not a string', 'APPROVAL_INVALID', 'approvedBy must be a string'),
    )
    .when(
      sfn.Condition.stringEqualsJsonPath('$.approval.approvedBy', '$.request.requestedBy'),
      refuse('Self-approval', 'APPROVAL_INVALID', 'the requester cannot approve their own admission'),
    )
    .otherwise(recordAndPublish);

  return applyDefaults
    .next(buildRequest)
    .next(verify)
    .next(publishVerdict)
    .next(
      new sfn.Choice(scope, 'Verdict?')
        .when(sfn.Condition.stringEquals('$.verification.verdict', 'reject'), verificationRefusal.next(refused))
        .when(sfn.Condition.booleanEquals('$.verification.needsApproval', true), waitForApproval.next(checkApproval))
        .otherwise(noApproval),
    );
}
