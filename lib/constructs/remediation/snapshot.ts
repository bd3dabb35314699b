/**
 * The snapshot capability in AWS: the prepare and create functions, their
 * grants, and the `aidops-snapshot` state machine built from them
 * (workflows/snapshot.ts). Known-good schedules and the tombstone start it.
 */
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { snapshotDefinition } from '../../../workflows/snapshot.ts';
import { acknowledge, grantAcknowledged } from '../../nag.ts';
import { namesOf } from '../../names.ts';
import { AidopsFunction } from '../function.ts';
import { AidopsStateMachine, acknowledgeInvokeVersions } from '../workflow.ts';
import { ec2Arn, SESSION_RESOURCE_CONDITION } from './arns.ts';

export interface SnapshotProps {
  /** @default no alarm action */
  readonly alarmTopic?: sns.ITopic;
  /** Polls before giving up on a pending snapshot. @default 12 */
  readonly maxPolls?: number;
}

export class Snapshot extends Construct {
  readonly machine: AidopsStateMachine;
  readonly prepareFn: AidopsFunction;
  readonly createFn: AidopsFunction;

  constructor(scope: Construct, id: string, props: SnapshotProps = {}) {
    super(scope, id);
    this.prepareFn = new AidopsFunction(this, 'Prepare', {
      entry: 'lambdas/remediation/handlers/snapshot-prepare.ts',
      description: 'Snapshot workflow: validate the request and resolve the session instance and its volumes',
    });
    this.createFn = new AidopsFunction(this, 'Create', {
      entry: 'lambdas/remediation/handlers/snapshot-create.ts',
      description: 'Snapshot workflow: CreateSnapshots for every volume, once per request id',
    });
    grantAcknowledged(
      this.prepareFn.fn.role!,
      new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }),
      'ec2:DescribeInstances does not support resource-level permissions.',
    );
    const createRole = this.createFn.fn.role!;
    grantAcknowledged(
      createRole,
      new iam.PolicyStatement({ actions: ['ec2:DescribeSnapshots'], resources: ['*'] }),
      'ec2:DescribeSnapshots does not support resource-level permissions.',
    );
    // What is snapshotted: session instances and volumes only. What is made: the snapshots.
    grantAcknowledged(
      createRole,
      new iam.PolicyStatement({
        actions: ['ec2:CreateSnapshots', 'ec2:CreateSnapshot'],
        resources: [ec2Arn(this, 'instance'), ec2Arn(this, 'volume')],
        conditions: SESSION_RESOURCE_CONDITION,
      }),
      'Session instances and volumes are created at run time; limited to resources tagged with a session id (condition).',
    );
    grantAcknowledged(
      createRole,
      new iam.PolicyStatement({
        actions: ['ec2:CreateSnapshots', 'ec2:CreateSnapshot'],
        resources: [ec2Arn(this, 'snapshot')],
      }),
      'The snapshots are created at run time; their ids cannot be known at deploy.',
    );
    grantAcknowledged(
      createRole,
      new iam.PolicyStatement({
        actions: ['ec2:CreateTags'],
        resources: [ec2Arn(this, 'snapshot')],
        conditions: { StringEquals: { 'ec2:CreateAction': ['CreateSnapshots', 'CreateSnapshot'] } },
      }),
      'Tags only on the snapshots CreateSnapshots makes (condition), whose ids are made at run time.',
    );

    this.machine = new AidopsStateMachine(this, 'Machine', {
      stateMachineName: namesOf(this).snapshotMachine,
      definition: snapshotDefinition(this, {
        functions: { prepare: this.prepareFn.fn, create: this.createFn.fn },
        maxPolls: props.maxPolls,
      }),
      timeout: Duration.hours(2),
      comment: 'Known-good snapshots of every EBS volume of a session instance',
      alarmTopic: props.alarmTopic,
    });
    acknowledgeInvokeVersions(this.machine, [this.prepareFn.fn, this.createFn.fn]);
    acknowledge(
      this.machine.stateMachine,
      'AwsSolutions-IAM5[Resource::*]',
      'ec2:DescribeSnapshots (progress polling) and X-Ray tracing do not support resource-level permissions.',
    );
  }
}
