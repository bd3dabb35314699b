/**
 * The restore capability in AWS: one function per step (entries of
 * lambdas/remediation/handlers/restore.ts), their grants, and the
 * `aidops-restore` state machine built from them (workflows/restore.ts).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { type RestoreFunctions, restoreDefinition } from '../../../workflows/restore.ts';
import { acknowledge, grantAcknowledged } from '../../nag.ts';
import { namesOf } from '../../names.ts';
import { AidopsFunction } from '../function.ts';
import { AidopsStateMachine, acknowledgeInvokeVersions } from '../workflow.ts';
import { ec2Arn, SESSION_RESOURCE_CONDITION, sessionRoleArns } from './arns.ts';
import type { EvidenceStore } from './evidence-store.ts';

export interface RestoreProps {
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
  /** Roles whose revocation set the release narrows. @default roles named *aidops-<env>-session* */
  readonly sessionRoleArns?: readonly string[];
  /** How long a revocation entry is kept. @default 12 h */
  readonly revocationWindow?: Duration;
}

const RUNTIME = 'Session instances, volumes, snapshots, interfaces and their groups are created at run time.';
const SESSION_ONLY = `${RUNTIME} Limited to resources tagged with a session id (condition).`;

export class Restore extends Construct {
  readonly machine: AidopsStateMachine;
  readonly functions: { readonly [K in keyof RestoreFunctions]: AidopsFunction };

  constructor(scope: Construct, id: string, props: RestoreProps) {
    super(scope, id);
    const environment = {
      AUDIT_BUS_NAME: props.eventBus.eventBusName,
      NOTIFY_TOPIC_ARN: props.notifyTopic.topicArn,
      INCIDENT_TABLE: props.incidentTable.tableName,
      QUARANTINE_GROUP_ID: props.quarantineGroup.securityGroupId,
      REVOCATION_WINDOW_SECONDS: String((props.revocationWindow ?? Duration.hours(12)).toSeconds()),
    };
    const fn = (fid: string, handler: string, description: string) =>
      new AidopsFunction(this, fid, {
        entry: 'lambdas/remediation/handlers/restore.ts',
        handler,
        description,
        environment,
        timeout: Duration.seconds(60),
      });
    this.functions = {
      plan: fn('Plan', 'plan', 'Restore: choose the last known-good root snapshot and read the evidence packet'),
      approval: fn('Approval', 'approval', 'Restore: park the approval token and ask a person'),
      replace: fn('Replace', 'replace', 'Restore: replace the root volume from the snapshot'),
      check: fn('Check', 'check', 'Restore: check the instance after the replacement'),
      release: fn('Release', 'releaseHandler', 'Restore: original security groups, protection and profile back'),
      terminate: fn('Terminate', 'terminateHandler', 'Restore: terminate the instance (volumes and snapshots kept)'),
      keep: fn('Keep', 'keep', 'Restore: rejected, the session stays quarantined'),
    };
    this.grant(props);

    this.machine = new AidopsStateMachine(this, 'Machine', {
      stateMachineName: namesOf(this).restoreMachine,
      definition: restoreDefinition(this, {
        functions: {
          plan: this.functions.plan.fn,
          approval: this.functions.approval.fn,
          replace: this.functions.replace.fn,
          check: this.functions.check.fn,
          release: this.functions.release.fn,
          terminate: this.functions.terminate.fn,
          keep: this.functions.keep.fn,
        },
        approvalTimeout: props.approvalTimeout,
      }),
      timeout: Duration.days(4),
      comment: 'Restore a quarantined session from its last known-good snapshot, after a person approves',
      alarmTopic: props.alarmTopic,
    });
    acknowledgeInvokeVersions(
      this.machine,
      Object.values(this.functions).map((f) => f.fn),
    );
    acknowledge(
      this.machine.stateMachine,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray tracing (xray:PutTraceSegments, GetSamplingRules, ...) has no resource-level permissions.',
    );
  }

  private grant(props: RestoreProps): void {
    const f = this.functions;
    for (const x of Object.values(f)) {
      grantAcknowledged(
        x.fn.role!,
        new iam.PolicyStatement({
          actions: [
            'ec2:DescribeInstances',
            'ec2:DescribeSnapshots',
            'ec2:DescribeIamInstanceProfileAssociations',
            'ec2:DescribeReplaceRootVolumeTasks',
          ],
          resources: ['*'],
        }),
        'EC2 Describe* calls do not support resource-level permissions.',
      );
      props.eventBus.grantPutEventsTo(x.fn);
      props.notifyTopic.grantPublish(x.fn);
      props.incidentTable.grantReadWriteData(x.fn);
    }
    // Instance and volume side: session resources only. The snapshot and the task the replacement names or makes.
    grantAcknowledged(
      f.replace.fn.role!,
      new iam.PolicyStatement({
        actions: ['ec2:StartInstances', 'ec2:CreateReplaceRootVolumeTask', 'ec2:CreateTags'],
        resources: [ec2Arn(this, 'instance'), ec2Arn(this, 'volume')],
        conditions: SESSION_RESOURCE_CONDITION,
      }),
      SESSION_ONLY,
    );
    grantAcknowledged(
      f.replace.fn.role!,
      new iam.PolicyStatement({
        actions: ['ec2:CreateReplaceRootVolumeTask', 'ec2:CreateTags'],
        resources: [ec2Arn(this, 'snapshot'), ec2Arn(this, 'replace-root-volume-task')],
      }),
      RUNTIME,
    );
    // Interface side: session interfaces only; group side: the groups the packet recorded (any, made at run time).
    grantAcknowledged(
      f.release.fn.role!,
      new iam.PolicyStatement({
        actions: ['ec2:ModifyNetworkInterfaceAttribute'],
        resources: [ec2Arn(this, 'network-interface')],
        conditions: SESSION_RESOURCE_CONDITION,
      }),
      SESSION_ONLY,
    );
    grantAcknowledged(
      f.release.fn.role!,
      new iam.PolicyStatement({
        actions: ['ec2:ModifyNetworkInterfaceAttribute'],
        resources: [ec2Arn(this, 'security-group')],
      }),
      RUNTIME,
    );
    grantAcknowledged(
      f.release.fn.role!,
      new iam.PolicyStatement({
        actions: ['ec2:ModifyInstanceAttribute', 'ec2:CreateTags', 'ec2:DeleteTags', 'ec2:AssociateIamInstanceProfile'],
        resources: [ec2Arn(this, 'instance')],
        conditions: SESSION_RESOURCE_CONDITION,
      }),
      SESSION_ONLY,
    );
    grantAcknowledged(
      f.terminate.fn.role!,
      new iam.PolicyStatement({
        actions: ['ec2:ModifyInstanceAttribute', 'ec2:TerminateInstances'],
        resources: [ec2Arn(this, 'instance')],
        conditions: SESSION_RESOURCE_CONDITION,
      }),
      SESSION_ONLY,
    );
    // The release narrows the instance's entry in its role's revocation set before the profile comes back.
    const stack = Stack.of(this);
    grantAcknowledged(
      f.release.fn.role!,
      new iam.PolicyStatement({
        actions: ['iam:GetInstanceProfile'],
        resources: [stack.formatArn({ service: 'iam', region: '', resource: 'instance-profile', resourceName: '*' })],
      }),
      'Session instance profiles are named at run time.',
    );
    grantAcknowledged(
      f.release.fn.role!,
      new iam.PolicyStatement({
        actions: ['iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:GetRolePolicy', 'iam:ListRolePolicies'],
        resources: sessionRoleArns(this, props.sessionRoleArns),
      }),
      'Only session roles (by name pattern) get the revocation policy.',
    );
    // Re-associating the profile passes its role to EC2.
    grantAcknowledged(
      f.release.fn.role!,
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: sessionRoleArns(this, props.sessionRoleArns),
        conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
      'Session roles are per session; PassRole only to EC2.',
    );
    props.evidence?.grantReadPackets(f.plan);
  }
}
