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
 */
import { type CfnElement, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ErrorNames } from '../lambdas/shared/errors.ts';
import { AidopsFunction } from '../lib/constructs/function.ts';
import { AidopsStateMachine, acknowledgeInvokeVersions } from '../lib/constructs/workflow.ts';
import { transientRetry } from './common.ts';

export interface EvidenceStore {
  /** The Object-Locked audit bucket (stateful stack). */
  readonly bucket: s3.IBucket;
  /** Its SSE-KMS key. */
  readonly key: kms.IKey;
  /** COMPLIANCE retention of a packet (the legal hold keeps it past that). */
  readonly retentionDays: number;
  /** @default 'audit/' */
  readonly auditPrefix?: string;
  /** Where packets go in the bucket. @default 'evidence/' */
  readonly prefix?: string;
}

export interface TombstoneWorkflowProps {
  /** @default 'aidops-tombstone' */
  readonly stateMachineName?: string;
  readonly quarantineGroup: ec2.ISecurityGroup;
  readonly isolationTransitionGroup: ec2.ISecurityGroup;
  /** The aidops-snapshot machine, started as a child for the evidence snapshots. */
  readonly snapshotMachine: sfn.IStateMachine;
  /** Audit events go here. */
  readonly eventBus: events.IEventBus;
  /** Where packets go. @default none: the evidence step fails until the lead wires the audit bucket */
  readonly evidence?: EvidenceStore;
  /** Incident notifications and pages. */
  readonly notifyTopic: sns.ITopic;
  /** Counters for the blast-radius guard's held path. */
  readonly incidentTable: dynamodb.ITable;
  /** Tombstones a minute fleet-wide before requests are held. @default 5 */
  readonly maxTombstonesPerMinute?: number;
  /** Roles the workflow may put the deny-before-now policy on. @default roles named *aidops-session* */
  readonly sessionRoleArns?: readonly string[];
  /** @default no alarm action */
  readonly alarmTopic?: sns.ITopic;
  /** Held requests give up after this many minute-long waits. @default 30 */
  readonly maxHeldMinutes?: number;
}

/** How cdk-nag prints a resource: pseudo parameters as <AWS::X>. */
export function nagId(stack: Stack, resource: string): string {
  let r = resource;
  if (Token.isUnresolved(stack.region)) r = r.split(stack.region).join('<AWS::Region>');
  if (Token.isUnresolved(stack.account)) r = r.split(stack.account).join('<AWS::AccountId>');
  return r;
}

const LAMBDA_TRANSIENT = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

export class TombstoneWorkflow extends Construct {
  readonly machine: AidopsStateMachine;
  readonly functions: Record<string, AidopsFunction>;

  constructor(scope: Construct, id: string, props: TombstoneWorkflowProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const name = props.stateMachineName ?? 'aidops-tombstone';
    const common = { AUDIT_BUS_NAME: props.eventBus.eventBusName };
    const isolationEnv = {
      QUARANTINE_GROUP_ID: props.quarantineGroup.securityGroupId,
      TRANSITION_GROUP_ID: props.isolationTransitionGroup.securityGroupId,
    };
    const fn = (
      fid: string,
      entry: string,
      description: string,
      extra: Record<string, string> = {},
      handler?: string,
    ) =>
      new AidopsFunction(this, fid, {
        entry: `lambdas/remediation/handlers/${entry}`,
        handler,
        description,
        environment: { ...common, ...extra },
        timeout: Duration.seconds(60),
      });
    const validateFn = fn(
      'Validate',
      'tombstone-validate.ts',
      'Tombstone: validate the request, read the instance once',
      isolationEnv,
    );
    const isolateFn = fn(
      'Isolate',
      'tombstone-isolate.ts',
      'Tombstone: quarantine group first, then protection, volumes, EIPs',
      isolationEnv,
    );
    const revokeFn = fn(
      'Revoke',
      'tombstone-revoke.ts',
      'Tombstone: deny-before-now on the role, detach the profile, delete secrets',
    );
    const freezeFn = fn('Freeze', 'tombstone-freeze.ts', 'Tombstone: stop the agent through SSM or stop the instance');
    const freezeCheckFn = fn('FreezeCheck', 'tombstone-freeze.ts', 'Tombstone: has the freeze taken hold', {}, 'check');
    const evidenceEnv: Record<string, string> = props.evidence
      ? {
          EVIDENCE_BUCKET: props.evidence.bucket.bucketName,
          EVIDENCE_KMS_KEY_ID: props.evidence.key.keyArn,
          EVIDENCE_RETENTION_DAYS: String(props.evidence.retentionDays),
          AUDIT_PREFIX: props.evidence.auditPrefix ?? 'audit/',
          EVIDENCE_PREFIX: props.evidence.prefix ?? 'evidence/',
        }
      : {};
    const evidenceFn = fn(
      'Evidence',
      'tombstone-evidence.ts',
      'Tombstone: write the evidence packet under Object Lock and legal hold',
      evidenceEnv,
    );
    const ticketEnv = { NOTIFY_TOPIC_ARN: props.notifyTopic.topicArn };
    const ticketFn = fn('Ticket', 'tombstone-ticket.ts', 'Tombstone: open the SSM OpsItem and notify', ticketEnv);
    const failureFn = fn(
      'Failure',
      'tombstone-ticket.ts',
      'Remediation: audit a failed workflow and page a person',
      ticketEnv,
      'failure',
    );
    const claimFn = fn(
      'ClaimSlot',
      'trigger.ts',
      'Tombstone: claim a blast-radius slot for a held request',
      {
        INCIDENT_TABLE: props.incidentTable.tableName,
        MAX_TOMBSTONES_PER_MINUTE: String(props.maxTombstonesPerMinute ?? 5),
      },
      'claimSlot',
    );
    this.functions = {
      validateFn,
      isolateFn,
      revokeFn,
      freezeFn,
      freezeCheckFn,
      evidenceFn,
      ticketFn,
      failureFn,
      claimFn,
    };
    this.grant(props, stack, name);

    // ---- definition
    const ctxPayload = { 'stateMachine.$': '$$.StateMachine.Name' };
    const recordFailure = (sid: string, page: boolean) =>
      new tasks.LambdaInvoke(this, sid, {
        lambdaFunction: failureFn.fn,
        payloadResponseOnly: true,
        payload: sfn.TaskInput.fromObject({
          'executionId.$': '$$.Execution.Id',
          'input.$': '$$.Execution.Input',
          'failure.$': '$.failure',
          page,
        }),
        resultPath: '$.failureRecord',
      });
    const failed = new sfn.Fail(this, 'Tombstone failed', {
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
    const startHolding = new sfn.Pass(this, 'Held by the blast-radius guard', {
      result: sfn.Result.fromObject({ attempt: 0, granted: false }),
      resultPath: '$.guard',
    });
    const waitSlot = new sfn.Wait(this, 'Wait for a blast-radius slot', {
      time: sfn.WaitTime.duration(Duration.seconds(60)),
    });
    const claim = new tasks.LambdaInvoke(this, 'Claim a blast-radius slot', {
      lambdaFunction: claimFn.fn,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({ 'attempt.$': '$.guard.attempt' }),
      resultPath: '$.guard',
    });
    claim.addRetry(transientRetry());
    const guardTimeout = new sfn.Fail(this, 'Still held: a person must decide', {
      error: 'BlastRadiusGuardTimeout',
      cause: `no blast-radius slot within ${maxHeld} minutes; the request was paged`,
    });

    const validate = new tasks.LambdaInvoke(this, 'Validate the request and find the instance', {
      lambdaFunction: validateFn.fn,
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

    const isolate = new tasks.LambdaInvoke(this, 'Isolate the instance', {
      lambdaFunction: isolateFn.fn,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', recheck: false, ...ctxPayload }),
      resultPath: '$.isolation',
    });
    // A failed first attempt goes to a second task that re-reads the interfaces first,
    // so no retry ever moves an already-quarantined interface back to the allow-all group.
    const isolateAgain = new tasks.LambdaInvoke(this, 'Isolate again, re-reading the interfaces', {
      lambdaFunction: isolateFn.fn,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', recheck: true, ...ctxPayload }),
      resultPath: '$.isolation',
    });
    isolateAgain.addRetry({
      ...transientRetry(6),
      errors: [ErrorNames.Transient, ErrorNames.EndpointUnreachable, ...LAMBDA_TRANSIENT],
    });
    isolate.addCatch(isolateAgain, {
      errors: [ErrorNames.Transient, ErrorNames.EndpointUnreachable, ...LAMBDA_TRANSIENT],
      resultPath: '$.isolationFirstAttempt',
    });
    catchAll(isolate);
    catchAll(isolateAgain);

    const revoke = new tasks.LambdaInvoke(this, 'Revoke credentials', {
      lambdaFunction: revokeFn.fn,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', ...ctxPayload }),
      resultPath: '$.credentials',
    });
    revoke.addRetry(transientRetry());
    catchAll(revoke);

    const freeze = new tasks.LambdaInvoke(this, 'Freeze the instance', {
      lambdaFunction: freezeFn.fn,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', ...ctxPayload }),
      resultPath: '$.freeze',
    });
    freeze.addRetry(transientRetry());
    catchAll(freeze);
    const startFreezePoll = new sfn.Pass(this, 'Start checking the freeze', {
      result: sfn.Result.fromObject({ attempt: 0 }),
      resultPath: '$.freezePoll',
    });
    const checkFreeze = new tasks.LambdaInvoke(this, 'Check the freeze', {
      lambdaFunction: freezeCheckFn.fn,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({ 'target.$': '$.target', 'freeze.$': '$.freeze' }),
      resultPath: '$.freezeCheck',
    });
    checkFreeze.addRetry(transientRetry());
    catchAll(checkFreeze);
    const waitFreeze = new sfn.Wait(this, 'Wait for the instance to stop', {
      time: sfn.WaitTime.duration(Duration.seconds(5)),
    });
    const countFreeze = new sfn.Pass(this, 'Count the freeze checks', {
      parameters: { 'attempt.$': 'States.MathAdd($.freezePoll.attempt, 1)' },
      resultPath: '$.freezePoll',
    });

    const snapshot = new tasks.StepFunctionsStartExecution(this, 'Snapshot every volume (evidence)', {
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
    const snapshotFailed = new tasks.LambdaInvoke(this, 'Record the snapshot failure and page a person', {
      lambdaFunction: failureFn.fn,
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
    const noSnapshots = new sfn.Pass(this, 'Continue without snapshots', {
      result: sfn.Result.fromObject({ snapshotIds: [], executionArn: null }),
      resultPath: '$.snapshots',
    });
    snapshot.addCatch(snapshotFailed, { errors: [sfn.Errors.ALL], resultPath: '$.snapshotFailure' });
    snapshotFailed.addCatch(noSnapshots, { resultPath: '$.snapshotFailureRecordError' });
    snapshotFailed.next(noSnapshots);
    const skipSnapshots = new sfn.Pass(this, 'Skip the snapshots (dry run)', {
      result: sfn.Result.fromObject({ snapshotIds: [], executionArn: null, skipped: 'dry run' }),
      resultPath: '$.snapshots',
    });

    const evidence = new tasks.LambdaInvoke(this, 'Write the evidence packet under legal hold', {
      lambdaFunction: evidenceFn.fn,
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

    const ticket = new tasks.LambdaInvoke(this, 'Open the incident ticket and notify', {
      lambdaFunction: ticketFn.fn,
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

    const done = new sfn.Pass(this, 'Tombstone complete', {
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
    const frozen = new sfn.Pass(this, 'Frozen');
    checkFreeze.next(
      new sfn.Choice(this, 'Frozen?')
        .when(sfn.Condition.booleanEquals('$.freezeCheck.done', true), frozen)
        // Not stopped after ~5 minutes: snapshot anyway (crash-consistent) rather than hold the evidence back.
        .when(
          sfn.Condition.numberGreaterThanEquals('$.freezePoll.attempt', 60),
          new sfn.Pass(this, 'Give up waiting for the freeze').next(frozen),
        )
        .otherwise(waitFreeze),
    );
    waitFreeze.next(countFreeze).next(checkFreeze);
    frozen.next(
      new sfn.Choice(this, 'Dry run?')
        .when(sfn.Condition.booleanEquals('$.target.request.dryRun', true), skipSnapshots)
        .otherwise(snapshot),
    );
    skipSnapshots.next(evidence);
    snapshot.next(evidence);
    evidence.next(ticket).next(done);
    validate.next(isolate).next(revoke).next(freeze).next(startFreezePoll).next(checkFreeze);
    const main = validate;
    isolateAgain.next(revoke);
    noSnapshots.next(evidence);

    startHolding
      .next(waitSlot)
      .next(claim)
      .next(
        new sfn.Choice(this, 'Slot granted?')
          .when(sfn.Condition.booleanEquals('$.guard.granted', true), validate)
          .when(sfn.Condition.numberGreaterThanEquals('$.guard.attempt', maxHeld), guardTimeout)
          .otherwise(waitSlot),
      );
    // Two Choices: a comparison on a missing path is a runtime error, and `held` is optional.
    const definition = new sfn.Choice(this, 'Held by the guard?')
      .when(
        sfn.Condition.isPresent('$.held'),
        new sfn.Choice(this, 'Held?')
          .when(sfn.Condition.booleanEquals('$.held', true), startHolding)
          .otherwise(validate),
      )
      .otherwise(main);

    this.machine = new AidopsStateMachine(this, 'Machine', {
      stateMachineName: name,
      definition,
      timeout: Duration.hours(6),
      comment: 'Tombstone a session: isolate first, revoke, freeze, snapshot, evidence under legal hold, ticket',
      alarmTopic: props.alarmTopic,
    });
    acknowledgeInvokeVersions(
      this.machine,
      Object.values(this.functions).map((f) => f.fn),
    );
    const snapId = stack.resolve((props.snapshotMachine.node.defaultChild as CfnElement).logicalId) as string;
    Validations.of(this.machine.stateMachine).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagId(stack, `arn:<AWS::Partition>:states:${stack.region}:${stack.account}:execution:`)}{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${snapId}"}]}]}*]`,
      reason:
        'states:startExecution.sync describes and stops the child snapshot executions it starts (names made at run time).',
    });
    Validations.of(this.machine.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'states:startExecution.sync needs events:PutTargets/PutRule on the Step Functions managed rule, whose ARN has no fixed name.',
    });
  }

  private grant(props: TombstoneWorkflowProps, stack: Stack, machineName: string): void {
    const f = this.functions;
    const any = (fnc: AidopsFunction, actions: string[], reason: string) => {
      fnc.fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources: ['*'] }));
      Validations.of(fnc.fn.role!).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason });
    };
    const arns = (
      fnc: AidopsFunction,
      actions: string[],
      resources: string[],
      reason: string,
      conditions?: Record<string, unknown>,
    ) => {
      fnc.fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources, conditions }));
      for (const r of resources.filter((x) => x.includes('*')))
        Validations.of(fnc.fn.role!).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagId(stack, r)}]`, reason });
    };
    const describe = 'EC2 Describe* calls do not support resource-level permissions.';
    const runtime =
      'Session instances, interfaces and volumes are created at run time; their ids are unknown at deploy.';
    const ec2Arn = (type: string) => `arn:aws:ec2:${stack.region}:${stack.account}:${type}/*`;

    any(f.validateFn!, ['ec2:DescribeInstances'], describe);
    any(
      f.isolateFn!,
      [
        'ec2:DescribeInstances',
        'ec2:DescribeInstanceAttribute',
        'ec2:DescribeAddresses',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeNetworkAcls',
        'ec2:DisassociateAddress',
      ],
      `${describe} DisassociateAddress takes an association id, which has no ARN.`,
    );
    arns(
      f.isolateFn!,
      ['ec2:ModifyNetworkInterfaceAttribute'],
      [
        ec2Arn('network-interface'),
        `arn:aws:ec2:${stack.region}:${stack.account}:security-group/${props.quarantineGroup.securityGroupId}`,
        `arn:aws:ec2:${stack.region}:${stack.account}:security-group/${props.isolationTransitionGroup.securityGroupId}`,
      ],
      runtime,
    );
    arns(f.isolateFn!, ['ec2:ModifyInstanceAttribute', 'ec2:CreateTags'], [ec2Arn('instance')], runtime);
    arns(
      f.isolateFn!,
      ['ec2:CreateNetworkAcl', 'ec2:ReplaceNetworkAclAssociation', 'ec2:CreateTags'],
      [ec2Arn('network-acl'), ec2Arn('vpc'), ec2Arn('subnet')],
      'The deny-all ACL is created on demand in the session VPC; its id is unknown at deploy.',
    );

    any(
      f.revokeFn!,
      [
        'ec2:DescribeIamInstanceProfileAssociations',
        'ec2:DisassociateIamInstanceProfile',
        'secretsmanager:ListSecrets',
      ],
      'These calls do not support resource-level permissions (association ids and ListSecrets have no ARN).',
    );
    arns(
      f.revokeFn!,
      ['iam:GetInstanceProfile'],
      [`arn:aws:iam::${stack.account}:instance-profile/*`],
      'Session instance profiles are created per session at run time.',
    );
    const roles = props.sessionRoleArns ?? [`arn:aws:iam::${stack.account}:role/*aidops-session*`];
    arns(
      f.revokeFn!,
      ['iam:PutRolePolicy'],
      [...roles],
      'Only session roles (by name pattern) may get the deny-before-now policy.',
    );
    arns(
      f.revokeFn!,
      ['secretsmanager:DeleteSecret'],
      [`arn:aws:secretsmanager:${stack.region}:${stack.account}:secret:*`],
      'Only secrets tagged with a session id (condition) are deleted; their names are per session.',
      { StringLike: { 'secretsmanager:ResourceTag/aidops:session-id': '*' } },
    );

    for (const fr of [f.freezeFn!, f.freezeCheckFn!]) {
      any(
        fr,
        ['ec2:DescribeInstances', 'ssm:DescribeInstanceInformation', 'ssm:GetCommandInvocation'],
        `${describe} SSM reads likewise.`,
      );
      arns(fr, ['ec2:StopInstances'], [ec2Arn('instance')], runtime);
      arns(
        fr,
        ['ssm:SendCommand'],
        [ec2Arn('instance'), `arn:aws:ssm:${stack.region}::document/AWS-RunShellScript`],
        runtime,
      );
    }

    any(f.evidenceFn!, ['ec2:DescribeInstances', 'ec2:DescribeSnapshots'], describe);
    arns(f.evidenceFn!, ['ec2:CreateTags'], [ec2Arn('instance')], runtime);
    arns(
      f.evidenceFn!,
      ['states:GetExecutionHistory'],
      [`arn:aws:states:${stack.region}:${stack.account}:execution:${machineName}:*`],
      'The packet records this workflow’s own executions, named at run time.',
    );
    if (props.evidence) {
      props.evidence.bucket.grantRead(f.evidenceFn!.fn);
      props.evidence.bucket.grantPut(f.evidenceFn!.fn);
      f.evidenceFn!.fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObjectRetention', 's3:PutObjectLegalHold', 's3:GetObjectLegalHold'],
          resources: [props.evidence.bucket.arnForObjects(`${props.evidence.prefix ?? 'evidence/'}*`)],
        }),
      );
      props.evidence.key.grantEncryptDecrypt(f.evidenceFn!.fn);
    }

    any(f.ticketFn!, ['ssm:DescribeOpsItems'], 'DescribeOpsItems does not support resource-level permissions.');
    arns(
      f.ticketFn!,
      ['ssm:CreateOpsItem', 'ssm:AddTagsToResource'],
      [`arn:aws:ssm:${stack.region}:${stack.account}:opsitem/*`],
      'OpsItem ids are assigned at creation.',
    );
    props.notifyTopic.grantPublish(f.ticketFn!.fn);
    props.notifyTopic.grantPublish(f.failureFn!.fn);
    props.incidentTable.grantReadWriteData(f.claimFn!.fn);
    for (const x of Object.values(f)) props.eventBus.grantPutEventsTo(x.fn);
  }
}
