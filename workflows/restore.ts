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
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { APPROVAL_REJECTED } from '../lambdas/remediation/common.ts';
import { AidopsFunction } from '../lib/constructs/function.ts';
import { AidopsStateMachine, acknowledgeInvokeVersions } from '../lib/constructs/workflow.ts';
import { transientRetry } from './common.ts';
import { type EvidenceStore, nagId } from './tombstone.ts';

export interface RestoreWorkflowProps {
  /** @default 'aidops-restore' */
  readonly stateMachineName?: string;
  readonly eventBus: events.IEventBus;
  /** The audit bucket (the plan reads the evidence packet from it). @default none */
  readonly evidence?: EvidenceStore;
  readonly notifyTopic: sns.ITopic;
  readonly incidentTable: dynamodb.ITable;
  readonly quarantineGroup: ec2.ISecurityGroup;
  /** How long a restore waits for a person. @default Duration.days(3) */
  readonly approvalTimeout?: Duration;
  /** @default no alarm action */
  readonly alarmTopic?: sns.ITopic;
}

export class RestoreWorkflow extends Construct {
  readonly machine: AidopsStateMachine;
  readonly functions: Record<string, AidopsFunction>;

  constructor(scope: Construct, id: string, props: RestoreWorkflowProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const env = {
      AUDIT_BUS_NAME: props.eventBus.eventBusName,
      NOTIFY_TOPIC_ARN: props.notifyTopic.topicArn,
      INCIDENT_TABLE: props.incidentTable.tableName,
      QUARANTINE_GROUP_ID: props.quarantineGroup.securityGroupId,
    };
    const fn = (fid: string, handler: string, description: string) =>
      new AidopsFunction(this, fid, {
        entry: 'lambdas/remediation/handlers/restore.ts',
        handler,
        description,
        environment: env,
        timeout: Duration.seconds(60),
      });
    const f = {
      plan: fn('Plan', 'plan', 'Restore: choose the last known-good root snapshot and read the evidence packet'),
      approval: fn('Approval', 'approval', 'Restore: park the approval token and ask a person'),
      replace: fn('Replace', 'replace', 'Restore: replace the root volume from the snapshot'),
      check: fn('Check', 'check', 'Restore: check the instance after the replacement'),
      release: fn('Release', 'releaseHandler', 'Restore: original security groups, protection and profile back'),
      terminate: fn('Terminate', 'terminateHandler', 'Restore: terminate the instance (volumes and snapshots kept)'),
      keep: fn('Keep', 'keep', 'Restore: rejected, the session stays quarantined'),
    };
    this.functions = f;
    this.grant(props, stack);

    const task = (sid: string, fnc: AidopsFunction, payload: Record<string, unknown>, resultPath: string) => {
      const t = new tasks.LambdaInvoke(this, sid, {
        lambdaFunction: fnc.fn,
        payloadResponseOnly: true,
        payload: sfn.TaskInput.fromObject(payload),
        resultPath,
      });
      t.addRetry(transientRetry());
      return t;
    };
    const failed = new sfn.Fail(this, 'Restore failed', { errorPath: '$.failure.Error', causePath: '$.failure.Cause' });
    const catchAll = (t: sfn.TaskStateBase) =>
      t.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.failure' });

    const plan = task(
      'Choose the snapshot',
      f.plan,
      { 'request.$': '$$.Execution.Input', 'executionId.$': '$$.Execution.Id' },
      '$.plan',
    );
    catchAll(plan);
    const approval = new tasks.LambdaInvoke(this, 'Wait for approval', {
      lambdaFunction: f.approval.fn,
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
    const rejected = new sfn.Succeed(this, 'Session stays quarantined');
    keep.next(rejected);

    const startReplace = new sfn.Pass(this, 'Start the replacement', {
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
    const waitReplace = new sfn.Wait(this, 'Wait for the replacement', {
      time: sfn.WaitTime.duration(Duration.seconds(10)),
    });
    const replaceFailed = new sfn.Fail(this, 'Root volume replacement failed', {
      error: 'ReplaceRootVolumeFailed',
      cause: 'the replace-root-volume task failed; the instance stays quarantined',
    });
    const check = task('Check the instance', f.check, { 'plan.$': '$.plan' }, '$.check');
    catchAll(check);
    const unhealthy = new sfn.Fail(this, 'Instance check failed', {
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
      new sfn.Pass(this, sid, {
        parameters: {
          outcome,
          'sessionId.$': '$.plan.sessionId',
          'instanceId.$': '$.plan.instanceId',
          'snapshotId.$': '$.plan.snapshot.id',
          'approval.$': '$.approval',
          'packet.$': '$.plan.packet',
        },
      });

    const definition = plan.next(approval).next(
      new sfn.Choice(this, 'Release or terminate?')
        .when(
          sfn.Condition.stringEquals('$.approval.decision', 'terminate'),
          terminateT.next(summary('Terminated', 'terminated')),
        )
        .when(
          sfn.Condition.stringEquals('$.approval.decision', 'release'),
          startReplace.next(replace).next(
            new sfn.Choice(this, 'Replacement done?')
              .when(sfn.Condition.stringEquals('$.replace.phase', 'failed'), replaceFailed)
              .when(
                sfn.Condition.booleanEquals('$.replace.done', true),
                check.next(
                  new sfn.Choice(this, 'Instance healthy?')
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
          new sfn.Fail(this, 'Unknown decision', {
            error: 'InvalidApproval',
            cause: 'decision must be release or terminate',
          }),
        ),
    );

    this.machine = new AidopsStateMachine(this, 'Machine', {
      stateMachineName: props.stateMachineName ?? 'aidops-restore',
      definition,
      timeout: Duration.days(4),
      comment: 'Restore a quarantined session from its last known-good snapshot, after a person approves',
      alarmTopic: props.alarmTopic,
    });
    acknowledgeInvokeVersions(
      this.machine,
      Object.values(f).map((x) => x.fn),
    );
    Validations.of(this.machine.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray tracing (xray:PutTraceSegments, GetSamplingRules, ...) has no resource-level permissions.',
    });
  }

  private grant(props: RestoreWorkflowProps, stack: Stack): void {
    const f = this.functions;
    const ec2Arn = (type: string) => `arn:aws:ec2:${stack.region}:${stack.account}:${type}/*`;
    const describe = [
      'ec2:DescribeInstances',
      'ec2:DescribeSnapshots',
      'ec2:DescribeIamInstanceProfileAssociations',
      'ec2:DescribeReplaceRootVolumeTasks',
    ];
    for (const x of Object.values(f)) {
      x.fn.addToRolePolicy(new iam.PolicyStatement({ actions: describe, resources: ['*'] }));
      Validations.of(x.fn.role!).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'EC2 Describe* calls do not support resource-level permissions.',
      });
      props.eventBus.grantPutEventsTo(x.fn);
      props.notifyTopic.grantPublish(x.fn);
      props.incidentTable.grantReadWriteData(x.fn);
    }
    const add = (x: AidopsFunction, actions: string[], resources: string[]) => {
      x.fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources }));
      for (const r of resources)
        Validations.of(x.fn.role!).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagId(stack, r)}]`,
          reason: 'Session instances, volumes, snapshots, interfaces and their groups are created at run time.',
        });
    };
    add(
      f.replace!,
      ['ec2:StartInstances', 'ec2:CreateReplaceRootVolumeTask', 'ec2:CreateTags'],
      [
        ec2Arn('instance'),
        ec2Arn('volume'),
        `arn:aws:ec2:${stack.region}::snapshot/*`,
        ec2Arn('replace-root-volume-task'),
      ],
    );
    add(f.release!, ['ec2:ModifyNetworkInterfaceAttribute'], [ec2Arn('network-interface'), ec2Arn('security-group')]);
    add(
      f.release!,
      ['ec2:ModifyInstanceAttribute', 'ec2:CreateTags', 'ec2:DeleteTags', 'ec2:AssociateIamInstanceProfile'],
      [ec2Arn('instance')],
    );
    add(f.terminate!, ['ec2:ModifyInstanceAttribute', 'ec2:TerminateInstances'], [ec2Arn('instance')]);
    // Re-associating the profile passes its role to EC2.
    f.release!.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [`arn:aws:iam::${stack.account}:role/*aidops-session*`],
        conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
    );
    Validations.of(f.release!.fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagId(stack, `arn:aws:iam::${stack.account}:role/*aidops-session*`)}]`,
      reason: 'Session roles are per session; PassRole only to EC2.',
    });
    if (props.evidence) {
      props.evidence.bucket.grantRead(f.plan!.fn);
      props.evidence.key.grantDecrypt(f.plan!.fn);
    }
  }
}
