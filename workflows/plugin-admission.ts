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
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { BUNDLE_SUFFIX } from '../lambdas/plugins/upload.ts';
import { APPROVAL_DENIED_ERROR } from '../lambdas/plugins/workflow.ts';
import { ErrorNames } from '../lambdas/shared/errors.ts';
import { AidopsFunction } from '../lib/constructs/function.ts';
import type { PluginAdmission } from '../lib/constructs/plugins.ts';
import { AidopsStateMachine, acknowledgeInvokeVersions } from '../lib/constructs/workflow.ts';
import { transientRetry } from './common.ts';

export interface PluginAdmissionWorkflowProps {
  readonly plugins: PluginAdmission;
  /** The audit bus every decision event goes to. */
  readonly auditBus: events.IEventBus;
  /** @default no alarm action */
  readonly alarmTopic?: sns.ITopic;
  /** Where approval requests go (subscribe the approvers). @default a new topic encrypted with the plugins key */
  readonly approvalTopic?: sns.ITopic;
  /** Hard limit on a pending approval. @default Duration.days(3) */
  readonly approvalTimeout?: Duration;
  /** Silence after which a pending approval lapses; an approver extends it with SendTaskHeartbeat. @default Duration.hours(24) */
  readonly approvalHeartbeat?: Duration;
  /** @default 'aidops-plugin-admission' */
  readonly stateMachineName?: string;
  /** Start an admission when a bundle lands under plugins/ in the staging bucket. @default true */
  readonly startOnUpload?: boolean;
}

export class PluginAdmissionWorkflow extends Construct {
  readonly machine: AidopsStateMachine;
  readonly approvalTopic: sns.ITopic;
  readonly publishFn: AidopsFunction;
  readonly requestApprovalFn: AidopsFunction;
  /** Starts admissions on upload (absent when `startOnUpload` is false). */
  readonly onUploadFn?: AidopsFunction;
  readonly uploadRule?: events.Rule;

  constructor(scope: Construct, id: string, props: PluginAdmissionWorkflowProps) {
    super(scope, id);
    const plugins = props.plugins;
    const approvalTimeout = props.approvalTimeout ?? Duration.days(3);
    const approvalHeartbeat = props.approvalHeartbeat ?? Duration.hours(24);

    this.approvalTopic =
      props.approvalTopic ??
      new sns.Topic(this, 'Approvals', {
        displayName: 'ai-desktop-ops plugin approvals',
        masterKey: plugins.key,
        enforceSSL: true,
      });

    this.publishFn = new AidopsFunction(this, 'PublishDecision', {
      entry: 'lambdas/plugins/handlers/publish-decision.ts',
      description: 'Plugin admission: put the decision audit event (admit or refuse) on the audit bus',
      environment: { AUDIT_BUS_NAME: props.auditBus.eventBusName },
    });
    props.auditBus.grantPutEventsTo(this.publishFn.fn);

    this.requestApprovalFn = new AidopsFunction(this, 'RequestApproval', {
      entry: 'lambdas/plugins/handlers/request-approval.ts',
      description: 'Plugin admission: notify approvers of a verified plugin from a new publisher, with the task token',
      environment: { APPROVAL_TOPIC_ARN: this.approvalTopic.topicArn },
    });
    this.approvalTopic.grantPublish(this.requestApprovalFn.fn);
    // Publishing to a KMS-encrypted topic needs the key (grantPublish does not add it for an imported topic).
    plugins.key.grant(this.requestApprovalFn.fn, 'kms:GenerateDataKey', 'kms:Decrypt');

    // ---- states ----
    const applyDefaults = new sfn.Pass(this, 'Apply defaults', {
      parameters: {
        defaults: { bucket: plugins.stagingBucket.bucketName, requestedBy: 'admission-workflow' },
        'input.$': '$',
      },
    });
    const buildRequest = new sfn.Pass(this, 'Build request', {
      parameters: { 'request.$': 'States.JsonMerge($.defaults, $.input, false)' },
    });

    const verify = new tasks.LambdaInvoke(this, 'Verify bundle and check trust policy', {
      lambdaFunction: plugins.verifyStaged.fn,
      // InputPath, not a payload path: with payloadResponseOnly a path payload renders as invalid Parameters.
      inputPath: '$.request',
      payloadResponseOnly: true,
      resultPath: '$.verification',
    });
    verify.addRetry(transientRetry());

    const publish = (name: string, payload: Record<string, unknown>, resultPath: string) => {
      const t = new tasks.LambdaInvoke(this, name, {
        lambdaFunction: this.publishFn.fn,
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

    const refused = new sfn.Fail(this, 'Refused', {
      comment: 'The reason code is the error name; the deny decision event is already on the audit bus.',
      errorPath: '$.refusal.reason',
      causePath: '$.refusal.message',
    });
    const verificationRefusal = new sfn.Pass(this, 'Refused by verification or policy', {
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
    const refuse = (name: string, reason: string, message: string | { path: string }) =>
      new sfn.Pass(this, name, {
        parameters: typeof message === 'string' ? { reason, message } : { reason, 'message.$': message.path },
        resultPath: '$.refusal',
      }).next(publishRefusal);

    const waitForApproval = new tasks.LambdaInvoke(this, 'Wait for approval', {
      lambdaFunction: this.requestApprovalFn.fn,
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

    const record = new tasks.LambdaInvoke(this, 'Record admission in the registry', {
      lambdaFunction: plugins.recordAdmission.fn,
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

    const admitted = new sfn.Pass(this, 'Admitted', {
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

    const noApproval = new sfn.Pass(this, 'No approval needed', {
      result: sfn.Result.fromObject({ approvedBy: null }),
      resultPath: '$.approval',
    }).next(recordAndPublish);

    // Separation of duties: an approval must name the approver, who is not the requester.
    const checkApproval = new sfn.Choice(this, 'Approval valid?')
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

    const definition = applyDefaults
      .next(buildRequest)
      .next(verify)
      .next(publishVerdict)
      .next(
        new sfn.Choice(this, 'Verdict?')
          .when(sfn.Condition.stringEquals('$.verification.verdict', 'reject'), verificationRefusal.next(refused))
          .when(sfn.Condition.booleanEquals('$.verification.needsApproval', true), waitForApproval.next(checkApproval))
          .otherwise(noApproval),
      );

    this.machine = new AidopsStateMachine(this, 'Machine', {
      stateMachineName: props.stateMachineName ?? 'aidops-plugin-admission',
      definition,
      // The approval wait bounds the run; an hour on top covers verification and retries.
      timeout: approvalTimeout.plus(Duration.hours(1)),
      comment: 'Admit a staged plugin version: Sigstore + SLSA verification, trust policy, approval, registry, audit',
      alarmTopic: props.alarmTopic,
    });
    acknowledgeInvokeVersions(this.machine, [
      plugins.verifyStaged.fn,
      plugins.recordAdmission.fn,
      this.publishFn.fn,
      this.requestApprovalFn.fn,
    ]);
    Validations.of(this.machine.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only the X-Ray trace and CloudWatch Logs vended-delivery actions CDK adds for tracing and logging; they take no resource ARNs.',
    });

    if (props.startOnUpload ?? true) {
      // A bundle landing under plugins/ starts its admission (S3 → EventBridge → this function → StartExecution).
      this.onUploadFn = new AidopsFunction(this, 'OnUpload', {
        entry: 'lambdas/plugins/handlers/on-upload.ts',
        description: 'Plugin admission: start the workflow when a Sigstore bundle lands in the staging bucket',
        environment: { ADMISSION_MACHINE_ARN: this.machine.stateMachine.stateMachineArn },
      });
      this.machine.stateMachine.grantStartExecution(this.onUploadFn.fn);
      this.uploadRule = new events.Rule(this, 'BundleUploaded', {
        description: 'A Sigstore bundle landed in the plugin staging bucket → start plugin admission',
        eventPattern: {
          source: ['aws.s3'],
          detailType: ['Object Created'],
          detail: {
            bucket: { name: [plugins.stagingBucket.bucketName] },
            object: { key: events.Match.suffix(BUNDLE_SUFFIX) },
          },
        },
        targets: [new targets.LambdaFunction(this.onUploadFn.fn, { retryAttempts: 8, maxEventAge: Duration.hours(6) })],
      });
    }
  }
}
