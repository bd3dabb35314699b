/**
 * PluginAdmissionWorkflow: the `aidops-plugin-admission` state machine and what
 * it needs beyond PluginAdmission's functions: the approvers' topic, the
 * publish-decision and request-approval functions, and the trigger that starts
 * an admission when a bundle lands in the staging bucket. The definition itself
 * is built by workflows/plugin-admission.ts from the functions created here.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { BUNDLE_SUFFIX } from '../../lambdas/plugins/upload.ts';
import { pluginAdmissionDefinition } from '../../workflows/plugin-admission.ts';
import { acknowledge } from '../nag.ts';
import { namesOf } from '../names.ts';
import { AidopsFunction } from './function.ts';
import type { PluginAdmission } from './plugins.ts';
import { AidopsStateMachine, acknowledgeInvokeVersions } from './workflow.ts';

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
  /** @default the environment's plugin-admission machine (lambdas/shared/names.ts) */
  readonly stateMachineName?: string;
  /** Start an admission when a bundle lands under plugins/ in the staging bucket. @default true */
  readonly startOnUpload?: boolean;
}

export class PluginAdmissionWorkflow extends Construct {
  readonly machine: AidopsStateMachine;
  readonly approvalTopic: sns.ITopic;
  readonly publishFn: AidopsFunction;
  readonly requestApprovalFn: AidopsFunction;
  /** Pending approvals' task tokens, by the admission's execution name: the people's door answers them. */
  readonly approvals: dynamodb.Table;
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

    this.approvals = new dynamodb.Table(this, 'PendingApprovals', {
      partitionKey: { name: 'admissionId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'purgeAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: plugins.key,
      // Pending approvals hold their task tokens: a redeploy must not strand them.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.requestApprovalFn = new AidopsFunction(this, 'RequestApproval', {
      entry: 'lambdas/plugins/handlers/request-approval.ts',
      description: 'Plugin admission: park the task token for the people door and notify the approvers',
      environment: { APPROVAL_TOPIC_ARN: this.approvalTopic.topicArn, APPROVAL_TABLE: this.approvals.tableName },
    });
    this.approvals.grant(this.requestApprovalFn.fn, 'dynamodb:PutItem');
    plugins.key.grant(this.requestApprovalFn.fn, 'kms:Encrypt');
    this.approvalTopic.grantPublish(this.requestApprovalFn.fn);
    // Publishing to a KMS-encrypted topic needs the key (grantPublish does not add it for an imported topic).
    plugins.key.grant(this.requestApprovalFn.fn, 'kms:GenerateDataKey', 'kms:Decrypt');

    const steps = {
      verifyStaged: plugins.verifyStaged.fn,
      recordAdmission: plugins.recordAdmission.fn,
      publishDecision: this.publishFn.fn,
      requestApproval: this.requestApprovalFn.fn,
    };
    this.machine = new AidopsStateMachine(this, 'Machine', {
      stateMachineName: props.stateMachineName ?? namesOf(this).pluginAdmissionMachine,
      definition: pluginAdmissionDefinition(this, {
        steps,
        stagingBucketName: plugins.stagingBucket.bucketName,
        approvalTimeout,
        approvalHeartbeat,
      }),
      // The approval wait bounds the run; an hour on top covers verification and retries.
      timeout: approvalTimeout.plus(Duration.hours(1)),
      comment: 'Admit a staged plugin version: Sigstore + SLSA verification, trust policy, approval, registry, audit',
      alarmTopic: props.alarmTopic,
    });
    acknowledgeInvokeVersions(this.machine, Object.values(steps));
    acknowledge(
      this.machine.stateMachine,
      'AwsSolutions-IAM5[Resource::*]',
      'Only the X-Ray trace and CloudWatch Logs vended-delivery actions CDK adds for tracing and logging; they take no resource ARNs.',
    );

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
