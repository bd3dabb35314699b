/**
 * The tombstone capability in AWS: its functions, each with only the
 * permissions its step needs (granted here, each beside its acknowledgement),
 * and the `aidops-tombstone` state machine built from them (workflows/tombstone.ts).
 * Every grant that acts on an instance, an interface or a volume is conditioned
 * on the session tag: a tombstone can touch session instances only.
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { type TombstoneFunctions, tombstoneDefinition } from '../../../workflows/tombstone.ts';
import { acknowledge, grantAcknowledged, nagResource } from '../../nag.ts';
import { namesOf } from '../../names.ts';
import { skipCheck } from '../../scanners.ts';
import { AidopsFunction } from '../function.ts';
import { AidopsStateMachine, acknowledgeInvokeVersions } from '../workflow.ts';
import { ec2Arn, executionsArn, SESSION_RESOURCE_CONDITION, sessionRoleArns } from './arns.ts';
import type { EvidenceStore } from './evidence-store.ts';

export interface TombstoneProps {
  readonly quarantineGroup: ec2.ISecurityGroup;
  readonly isolationTransitionGroup: ec2.ISecurityGroup;
  /** The aidops-snapshot machine, started as a child for the evidence snapshots. */
  readonly snapshotMachine: sfn.IStateMachine;
  /** Audit events go here. */
  readonly eventBus: events.IEventBus;
  /** Where packets go. @default none: the evidence step fails until the audit bucket is wired */
  readonly evidence?: EvidenceStore;
  /** Incident notifications and pages. */
  readonly notifyTopic: sns.ITopic;
  /** Counters for the blast-radius guard's held path. */
  readonly incidentTable: dynamodb.ITable;
  /** Tombstones a minute fleet-wide before requests are held. @default 5 */
  readonly maxTombstonesPerMinute?: number;
  /** Roles the workflow may put the deny-before-now policy on. @default roles named *aidops-<env>-session* */
  readonly sessionRoleArns?: readonly string[];
  /** @default no alarm action */
  readonly alarmTopic?: sns.ITopic;
  /** Held requests give up after this many minute-long waits. @default 30 */
  readonly maxHeldMinutes?: number;
  /**
   * The session table and the session state machine: the tombstone marks the session it
   * contains and answers its workflow's pending callback. @default none (no session to end)
   */
  readonly sessions?: { readonly table: dynamodb.ITable; readonly machineArn: string };
  /** How long a revocation entry is kept (the longest life of instance-profile credentials, doubled). @default 12 h */
  readonly revocationWindow?: Duration;
  /** How long the packet waits, at most, for the audit pipeline. @default 60 s */
  readonly auditWait?: Duration;
}

const DESCRIBE = 'EC2 Describe* calls do not support resource-level permissions.';
const RUNTIME = 'Session instances, interfaces and volumes are created at run time; their ids are unknown at deploy.';
const SESSION_ONLY = `${RUNTIME} Limited to resources tagged with a session id (condition).`;

export class Tombstone extends Construct {
  readonly machine: AidopsStateMachine;
  readonly functions: { readonly [K in keyof TombstoneFunctions]: AidopsFunction };

  constructor(scope: Construct, id: string, props: TombstoneProps) {
    super(scope, id);
    const busEnv = { AUDIT_BUS_NAME: props.eventBus.eventBusName };
    const isolationEnv = {
      QUARANTINE_GROUP_ID: props.quarantineGroup.securityGroupId,
      TRANSITION_GROUP_ID: props.isolationTransitionGroup.securityGroupId,
    };
    const notifyEnv = { NOTIFY_TOPIC_ARN: props.notifyTopic.topicArn };
    const fn = (fid: string, entry: string, description: string, env: Record<string, string>, handler?: string) =>
      new AidopsFunction(this, fid, {
        entry: `lambdas/remediation/handlers/${entry}`,
        handler,
        description,
        environment: { ...busEnv, ...env },
        timeout: Duration.seconds(60),
      });
    this.functions = {
      validate: fn(
        'Validate',
        'tombstone-validate.ts',
        'Tombstone: validate the request, read the instance once',
        isolationEnv,
      ),
      isolate: fn(
        'Isolate',
        'tombstone-isolate.ts',
        'Tombstone: quarantine group first, then protection, volumes, EIPs',
        isolationEnv,
      ),
      revoke: fn(
        'Revoke',
        'tombstone-revoke.ts',
        'Tombstone: add the instance to the role revocation set, detach the profile, delete secrets',
        {
          INCIDENT_TABLE: props.incidentTable.tableName,
          REVOCATION_WINDOW_SECONDS: String((props.revocationWindow ?? Duration.hours(12)).toSeconds()),
        },
      ),
      endSession: fn(
        'EndSession',
        'tombstone-end-session.ts',
        'Tombstone: mark the session tombstoned, answer the pending callback of its workflow',
        props.sessions ? { SESSION_TABLE: props.sessions.table.tableName } : {},
      ),
      freeze: fn('Freeze', 'tombstone-freeze.ts', 'Tombstone: stop the agent through SSM or stop the instance', {}),
      freezeCheck: fn('FreezeCheck', 'tombstone-freeze.ts', 'Tombstone: has the freeze taken hold', {}, 'check'),
      auditCheck: fn(
        'AuditCheck',
        'tombstone-evidence.ts',
        'Tombstone: has the audit pipeline written the session events up to the incident',
        props.evidence?.environment() ?? {},
        'auditCheck',
      ),
      evidence: fn(
        'Evidence',
        'tombstone-evidence.ts',
        'Tombstone: write the evidence packet under Object Lock and legal hold',
        props.evidence?.environment() ?? {},
      ),
      ticket: fn('Ticket', 'tombstone-ticket.ts', 'Tombstone: open the SSM OpsItem and notify', notifyEnv),
      failure: fn(
        'Failure',
        'tombstone-ticket.ts',
        'Remediation: audit a failed workflow and page a person',
        notifyEnv,
        'failure',
      ),
      claimSlot: fn(
        'ClaimSlot',
        'trigger.ts',
        'Tombstone: claim a blast-radius slot for a held request',
        {
          INCIDENT_TABLE: props.incidentTable.tableName,
          MAX_TOMBSTONES_PER_MINUTE: String(props.maxTombstonesPerMinute ?? 5),
        },
        'claimSlot',
      ),
    };
    this.grantIsolation(props);
    this.grantRevocation(props);
    this.grantSessionEnd(props.sessions);
    this.grantFreeze();
    this.grantEvidence(props.evidence);
    this.grantTicket(props.notifyTopic);
    props.incidentTable.grantReadWriteData(this.functions.claimSlot.fn);
    for (const f of Object.values(this.functions)) props.eventBus.grantPutEventsTo(f.fn);

    this.machine = new AidopsStateMachine(this, 'Machine', {
      stateMachineName: namesOf(this).tombstoneMachine,
      definition: tombstoneDefinition(this, {
        functions: {
          validate: this.functions.validate.fn,
          isolate: this.functions.isolate.fn,
          revoke: this.functions.revoke.fn,
          endSession: this.functions.endSession.fn,
          freeze: this.functions.freeze.fn,
          freezeCheck: this.functions.freezeCheck.fn,
          auditCheck: this.functions.auditCheck.fn,
          evidence: this.functions.evidence.fn,
          ticket: this.functions.ticket.fn,
          failure: this.functions.failure.fn,
          claimSlot: this.functions.claimSlot.fn,
        },
        snapshotMachine: props.snapshotMachine,
        maxHeldMinutes: props.maxHeldMinutes,
        auditWait: props.auditWait,
      }),
      timeout: Duration.hours(6),
      comment: 'Tombstone a session: isolate first, revoke, freeze, snapshot, evidence under legal hold, ticket',
      alarmTopic: props.alarmTopic,
    });
    this.acknowledgeMachine(props.snapshotMachine);
  }

  /** The role of `f`. */
  private role(f: AidopsFunction): iam.IRole {
    return f.fn.role!;
  }

  private grantIsolation(props: TombstoneProps): void {
    const { validate, isolate } = this.functions;
    grantAcknowledged(
      this.role(validate),
      new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }),
      DESCRIBE,
    );
    grantAcknowledged(
      this.role(isolate),
      new iam.PolicyStatement({
        actions: [
          'ec2:DescribeInstances',
          'ec2:DescribeInstanceAttribute',
          'ec2:DescribeAddresses',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeNetworkAcls',
          'ec2:DisassociateAddress',
        ],
        resources: ['*'],
      }),
      `${DESCRIBE} DisassociateAddress takes an association id, which has no ARN.`,
    );
    skipCheck(
      this.role(isolate).node.findChild('DefaultPolicy'),
      'CKV_AWS_111',
      'Its only unscoped write is ec2:DisassociateAddress, which takes an association id (no ARN, no tags to condition on); every other write is on session-tagged interfaces or the two isolation groups.',
    );
    // The interface side of the call: session interfaces only. The group side: the two isolation groups only.
    grantAcknowledged(
      this.role(isolate),
      new iam.PolicyStatement({
        actions: ['ec2:ModifyNetworkInterfaceAttribute'],
        resources: [ec2Arn(this, 'network-interface')],
        conditions: SESSION_RESOURCE_CONDITION,
      }),
      SESSION_ONLY,
    );
    this.role(isolate).addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ec2:ModifyNetworkInterfaceAttribute'],
        resources: [
          ec2Arn(this, 'security-group', props.quarantineGroup.securityGroupId),
          ec2Arn(this, 'security-group', props.isolationTransitionGroup.securityGroupId),
        ],
      }),
    );
    grantAcknowledged(
      this.role(isolate),
      new iam.PolicyStatement({
        actions: ['ec2:ModifyInstanceAttribute', 'ec2:CreateTags'],
        resources: [ec2Arn(this, 'instance')],
        conditions: SESSION_RESOURCE_CONDITION,
      }),
      SESSION_ONLY,
    );
    grantAcknowledged(
      this.role(isolate),
      new iam.PolicyStatement({
        actions: ['ec2:CreateNetworkAcl', 'ec2:ReplaceNetworkAclAssociation', 'ec2:CreateTags'],
        resources: [ec2Arn(this, 'network-acl'), ec2Arn(this, 'vpc'), ec2Arn(this, 'subnet')],
      }),
      'The deny-all ACL is created on demand in the session VPC; its id is unknown at deploy.',
    );
  }

  private grantRevocation(props: TombstoneProps): void {
    const role = this.role(this.functions.revoke);
    const stack = Stack.of(this);
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['ec2:DescribeIamInstanceProfileAssociations', 'secretsmanager:ListSecrets'],
        resources: ['*'],
      }),
      'These calls do not support resource-level permissions.',
    );
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['ec2:DisassociateIamInstanceProfile'],
        resources: [ec2Arn(this, 'instance')],
        conditions: SESSION_RESOURCE_CONDITION,
      }),
      SESSION_ONLY,
    );
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['iam:GetInstanceProfile'],
        resources: [stack.formatArn({ service: 'iam', region: '', resource: 'instance-profile', resourceName: '*' })],
      }),
      'Session instance profiles are created per session at run time.',
    );
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:GetRolePolicy', 'iam:ListRolePolicies'],
        resources: sessionRoleArns(this, props.sessionRoleArns),
      }),
      'Only session roles (by name pattern) get the revocation policy.',
    );
    // The role's revocation set lives in the incident table.
    props.incidentTable.grantReadWriteData(this.functions.revoke.fn);
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['secretsmanager:DeleteSecret'],
        resources: [
          stack.formatArn({
            service: 'secretsmanager',
            resource: 'secret',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
        conditions: { StringLike: { 'secretsmanager:ResourceTag/aidops:session-id': '*' } },
      }),
      'Only secrets tagged with a session id (condition) are deleted; their names are per session.',
    );
  }

  private grantFreeze(): void {
    const runShellScript = Stack.of(this).formatArn({
      service: 'ssm',
      account: '',
      resource: 'document',
      resourceName: 'AWS-RunShellScript',
    });
    for (const f of [this.functions.freeze, this.functions.freezeCheck]) {
      grantAcknowledged(
        this.role(f),
        new iam.PolicyStatement({
          actions: ['ec2:DescribeInstances', 'ssm:DescribeInstanceInformation', 'ssm:GetCommandInvocation'],
          resources: ['*'],
        }),
        `${DESCRIBE} SSM reads likewise.`,
      );
      grantAcknowledged(
        this.role(f),
        new iam.PolicyStatement({
          actions: ['ec2:StopInstances', 'ssm:SendCommand'],
          resources: [ec2Arn(this, 'instance')],
          conditions: SESSION_RESOURCE_CONDITION,
        }),
        SESSION_ONLY,
      );
      // The document side of SendCommand: the one shell document, by ARN.
      this.role(f).addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['ssm:SendCommand'], resources: [runShellScript] }),
      );
    }
  }

  private grantEvidence(evidence: EvidenceStore | undefined): void {
    const role = this.role(this.functions.evidence);
    grantAcknowledged(
      role,
      new iam.PolicyStatement({ actions: ['ec2:DescribeInstances', 'ec2:DescribeSnapshots'], resources: ['*'] }),
      DESCRIBE,
    );
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['ec2:CreateTags'],
        resources: [ec2Arn(this, 'instance')],
        conditions: SESSION_RESOURCE_CONDITION,
      }),
      SESSION_ONLY,
    );
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['states:GetExecutionHistory'],
        resources: [executionsArn(this, namesOf(this).tombstoneMachine)],
      }),
      'The packet records this workflow’s own executions, named at run time.',
    );
    evidence?.grantWritePackets(this.functions.evidence);
    evidence?.grantListAudit(this.functions.auditCheck);
  }

  /** Marks the session tombstoned and answers its workflow's callback (task tokens of the session machine only). */
  private grantSessionEnd(sessions: TombstoneProps['sessions']): void {
    if (!sessions) return;
    const fn = this.functions.endSession.fn;
    sessions.table.grantReadWriteData(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:SendTaskFailure'], resources: [sessions.machineArn] }),
    );
  }

  private grantTicket(notifyTopic: sns.ITopic): void {
    const role = this.role(this.functions.ticket);
    grantAcknowledged(
      role,
      new iam.PolicyStatement({ actions: ['ssm:DescribeOpsItems'], resources: ['*'] }),
      'DescribeOpsItems does not support resource-level permissions.',
    );
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['ssm:CreateOpsItem', 'ssm:AddTagsToResource'],
        resources: [Stack.of(this).formatArn({ service: 'ssm', resource: 'opsitem', resourceName: '*' })],
      }),
      'OpsItem ids are assigned at creation.',
    );
    notifyTopic.grantPublish(this.functions.ticket.fn);
    notifyTopic.grantPublish(this.functions.failure.fn);
  }

  /** What the machine's own role is granted that cdk-nag flags: each finding named, with its reason. */
  private acknowledgeMachine(snapshotMachine: sfn.IStateMachine): void {
    const stack = Stack.of(this);
    const machine = this.machine.stateMachine;
    acknowledgeInvokeVersions(
      this.machine,
      Object.values(this.functions).map((f) => f.fn),
    );
    // startExecution.sync (RUN_JOB) lets the machine describe and stop the child's executions, as CDK
    // writes that resource: the child machine's name taken from its ARN, then any execution name.
    const childName = stack.splitArn(snapshotMachine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName;
    const childExecutions = stack.formatArn({
      service: 'states',
      resource: 'execution',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      resourceName: `${childName}*`,
    });
    acknowledge(
      machine,
      `AwsSolutions-IAM5[Resource::${nagResource(machine, childExecutions)}]`,
      'states:startExecution.sync describes and stops the child snapshot executions it starts (names made at run time).',
    );
    acknowledge(
      machine,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray tracing (xray:PutTraceSegments, GetSamplingRules, ...) has no resource-level permissions.',
    );
  }
}
