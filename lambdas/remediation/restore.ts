/**
 * Restore workflow cores: choose the snapshot → (a person approves) → replace the
 * root volume → check the instance → release from quarantine (the original
 * groups from the evidence packet) or terminate, as the approver chose.
 * Every step is idempotent and writes an audit event.
 */
import {
  AssociateIamInstanceProfileCommand,
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeIamInstanceProfileAssociationsCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
  type Snapshot,
  StartInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { newEvent } from '../audit/schema.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { ConflictError } from '../shared/errors.ts';
import { InstanceId, IsoTime, SessionId, SnapshotId } from '../shared/ids.ts';
import { Tags, tagValue } from '../shared/tags.ts';
import { parseOrThrow } from '../shared/validation.ts';
import {
  APPROVAL_REJECTED,
  audit,
  consoleUrl,
  EvidencePacketError,
  REMEDIATION_SOURCE,
  RemediationTags,
  regionOf,
  SnapshotNotUsableError,
  type StepContext,
  stepEvent,
} from './common.ts';
import { resolveInstance } from './instances.ts';
import type { RootVolumeReplacer } from './root-volume.ts';
import type { IncidentStore } from './trigger.ts';

export const RESTORE_MACHINE = 'aidops-restore' as const;

export const RestoreRequest = z
  .strictObject({
    sessionId: SessionId.optional(),
    instanceId: InstanceId.optional(),
    /** Restore from this snapshot (of the root volume) instead of the last known-good one. */
    snapshotId: SnapshotId.optional(),
    /** Choose the last known-good snapshot taken before this time. @default the quarantine time */
    before: IsoTime.optional(),
    reason: z.string().trim().min(1).max(512).default('restore after incident'),
    requestedBy: z.string().trim().min(1, 'requestedBy is required').max(256),
  })
  .refine((r) => r.sessionId !== undefined || r.instanceId !== undefined, {
    message: 'name a sessionId or an instanceId',
    path: ['sessionId'],
  });
export type RestoreRequest = z.output<typeof RestoreRequest>;

export const PlanInput = z.strictObject({
  request: z.unknown(),
  executionId: z.string().min(1),
});

export interface RestorePlan {
  readonly executionId: string;
  readonly request: RestoreRequest;
  readonly sessionId: string | null;
  readonly instanceId: string;
  readonly state: string;
  readonly incidentId: string | null;
  readonly snapshot: { id: string; startTime: string | null; volumeId: string | null };
  readonly rootDevice: string;
  readonly rootVolumeId: string | null;
  readonly originalGroups: Record<string, string[]>;
  readonly packet: { s3Uri: string; versionId: string | null } | null;
  readonly terminationProtectionBefore: boolean;
  readonly instanceProfileArn: string | null;
  readonly chosenBefore: string;
}

export interface RestoreDeps {
  readonly ec2: EC2Client;
  readonly s3?: S3Client;
  readonly sns?: SNSClient;
  readonly topicArn?: string;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  readonly store?: IncidentStore;
  readonly replacer?: RootVolumeReplacer;
  readonly now?: () => Date;
}

const ctxOf = (p: RestorePlan, stateMachine = RESTORE_MACHINE): StepContext => ({
  executionId: p.executionId,
  stateMachine,
  sessionId: p.sessionId,
  requestedBy: p.request.requestedBy,
});

function parseS3Uri(uri: string): { bucket: string; key: string } | null {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  return m ? { bucket: m[1]!, key: m[2]! } : null;
}

interface PacketView {
  securityGroups?: { original?: Record<string, string[]> };
  isolation?: { terminationProtection?: { before?: boolean } };
  credentials?: { instanceProfile?: { arn?: string } | null };
}

async function readPacket(s3: S3Client, uri: string): Promise<{ packet: PacketView; versionId: string | null }> {
  const loc = parseS3Uri(uri);
  if (!loc) throw new EvidencePacketError(`evidence packet tag is not an s3:// URI: ${uri}`);
  const out = await awsCall('s3:GetObject', () => s3.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key })));
  const text = await out.Body!.transformToString();
  try {
    return { packet: JSON.parse(text) as PacketView, versionId: out.VersionId ?? null };
  } catch {
    throw new EvidencePacketError(`evidence packet ${uri} is not JSON`);
  }
}

function rootOf(i: {
  RootDeviceName?: string;
  BlockDeviceMappings?: { DeviceName?: string; Ebs?: { VolumeId?: string } }[];
}) {
  const maps = i.BlockDeviceMappings ?? [];
  const m = maps.find((b) => b.DeviceName === i.RootDeviceName) ?? maps[0];
  return { device: m?.DeviceName ?? i.RootDeviceName ?? '/dev/xvda', volumeId: m?.Ebs?.VolumeId ?? null };
}

const time = (s: Snapshot) =>
  s.StartTime instanceof Date ? s.StartTime.getTime() : Date.parse(String(s.StartTime ?? 0));

export async function planRestore(deps: RestoreDeps, input: z.output<typeof PlanInput>): Promise<RestorePlan> {
  const request = parseOrThrow(RestoreRequest, input.request, 'restore request');
  const now = (deps.now ?? (() => new Date()))();
  const inst = await resolveInstance(deps.ec2, request);
  const i = inst.instance;
  const root = rootOf(i);
  const lineage = (tagValue(i.Tags, RemediationTags.RootVolumeLineage) ?? '').split(',').filter(Boolean);
  const rootIds = new Set([root.volumeId, ...lineage].filter((v): v is string => !!v));
  const quarantinedAt = tagValue(i.Tags, RemediationTags.QuarantinedAt);
  const packetUri = tagValue(i.Tags, RemediationTags.EvidencePacket);

  let originalGroups: Record<string, string[]> | null = null;
  let terminationProtectionBefore = false;
  let instanceProfileArn: string | null = i.IamInstanceProfile?.Arn ?? null;
  let packet: RestorePlan['packet'] = null;
  if (packetUri && deps.s3) {
    const r = await readPacket(deps.s3, packetUri);
    packet = { s3Uri: packetUri, versionId: r.versionId };
    originalGroups = r.packet.securityGroups?.original ?? null;
    terminationProtectionBefore = r.packet.isolation?.terminationProtection?.before === true;
    instanceProfileArn = r.packet.credentials?.instanceProfile?.arn ?? instanceProfileArn;
  }
  if (!originalGroups) {
    const tagged = tagValue(i.Tags, RemediationTags.PreQuarantineGroups);
    if (tagged) originalGroups = JSON.parse(tagged) as Record<string, string[]>;
  }
  if (!originalGroups) {
    throw new ConflictError(
      `instance ${inst.instanceId} carries no evidence packet and no pre-quarantine groups: it was not tombstoned, nothing to release`,
      { instanceId: inst.instanceId },
    );
  }

  const before = request.before ? new Date(request.before) : quarantinedAt ? new Date(quarantinedAt) : now;
  let chosen: Snapshot | undefined;
  if (request.snapshotId) {
    const out = await awsCall('ec2:DescribeSnapshots', () =>
      deps.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [request.snapshotId!] })),
    ).catch((e: Error) => {
      if (e.name === 'InvalidSnapshot.NotFound') return { Snapshots: [] };
      throw e;
    });
    chosen = out.Snapshots?.[0];
    if (!chosen) throw new SnapshotNotUsableError(`snapshot ${request.snapshotId} does not exist`);
    const owner = tagValue(chosen.Tags, Tags.SessionId);
    if (inst.sessionId && owner !== inst.sessionId && !rootIds.has(chosen.VolumeId ?? '')) {
      throw new SnapshotNotUsableError(`snapshot ${request.snapshotId} is not a snapshot of session ${inst.sessionId}`);
    }
  } else {
    if (!inst.sessionId) throw new SnapshotNotUsableError('no session tag on the instance: name a snapshotId');
    const out = await awsCall('ec2:DescribeSnapshots', () =>
      deps.ec2.send(
        new DescribeSnapshotsCommand({
          OwnerIds: ['self'],
          Filters: [
            { Name: `tag:${Tags.SessionId}`, Values: [inst.sessionId!] },
            { Name: `tag:${Tags.KnownGood}`, Values: ['true'] },
          ],
        }),
      ),
    );
    chosen = (out.Snapshots ?? [])
      .filter((s) => s.State === 'completed' && rootIds.has(s.VolumeId ?? '') && time(s) < before.getTime())
      .sort((a, b) => time(b) - time(a))[0];
    if (!chosen) {
      throw new SnapshotNotUsableError(
        `no completed known-good snapshot of the root volume of session ${inst.sessionId} before ${before.toISOString()}`,
        { rootVolumes: [...rootIds] },
      );
    }
  }
  if (chosen.State !== 'completed')
    throw new SnapshotNotUsableError(`snapshot ${chosen.SnapshotId} is ${chosen.State}`);
  const plan: RestorePlan = {
    executionId: input.executionId,
    request,
    sessionId: inst.sessionId,
    instanceId: inst.instanceId,
    state: inst.state,
    incidentId: tagValue(i.Tags, RemediationTags.IncidentId) ?? null,
    snapshot: {
      id: chosen.SnapshotId!,
      startTime: Number.isNaN(time(chosen)) ? null : new Date(time(chosen)).toISOString(),
      volumeId: chosen.VolumeId ?? null,
    },
    rootDevice: root.device,
    rootVolumeId: root.volumeId,
    originalGroups,
    packet,
    terminationProtectionBefore,
    instanceProfileArn,
    chosenBefore: before.toISOString(),
  };
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(ctxOf(plan), `Choose the snapshot: ${plan.snapshot.id}`, 'succeeded'),
  ]);
  return plan;
}

// ---------------------------------------------------------------------------

export const ApprovalRequestInput = z.strictObject({
  token: z.string().min(1),
  plan: z.looseObject({}),
});

/** Parks the approval: the token goes to the incident table (for `aidops incident approve`) and to SNS. */
export async function requestApproval(
  deps: RestoreDeps,
  input: z.output<typeof ApprovalRequestInput>,
): Promise<{ requested: true }> {
  const plan = input.plan as unknown as RestorePlan;
  const now = (deps.now ?? (() => new Date()))();
  const summary = `restore ${plan.sessionId ?? plan.instanceId} (${plan.instanceId}) from ${plan.snapshot.id} taken ${plan.snapshot.startTime ?? '?'}`;
  await deps.store?.putApproval(plan.executionId, {
    token: input.token,
    sessionId: plan.sessionId,
    summary,
    expiresAt: Math.floor(now.getTime() / 1000) + 7 * 86_400,
  });
  if (deps.sns && deps.topicArn) {
    const name = plan.executionId.split(':').pop();
    await awsCall('sns:Publish', () =>
      deps.sns!.send(
        new PublishCommand({
          TopicArn: deps.topicArn,
          Subject: `aidops: approve restore of ${plan.sessionId ?? plan.instanceId}?`.slice(0, 99),
          Message: [
            `A restore waits for approval: ${summary}.`,
            `Evidence: ${plan.packet?.s3Uri ?? '-'}`,
            `Approve and release:   aidops incident approve ${name}`,
            `Approve and terminate: aidops incident approve ${name} --terminate`,
            `Reject (stay quarantined): aidops incident reject ${name}`,
            `Console: ${consoleUrl.execution(regionOf(), plan.executionId)}`,
          ].join('\n'),
        }),
      ),
    );
  }
  await audit(deps.eventBridge, deps.busName, [stepEvent(ctxOf(plan), 'Wait for approval', 'started')]);
  return { requested: true };
}

/** What an approver sends with SendTaskSuccess. */
export const ApprovalDecision = z.strictObject({
  decision: z.enum(['release', 'terminate']),
  approver: z.string().trim().min(1).max(256),
  comment: z.string().max(1024).default(''),
});
export type ApprovalDecision = z.output<typeof ApprovalDecision>;

// ---------------------------------------------------------------------------

export const ReplaceInput = z.strictObject({
  plan: z.looseObject({}),
  approval: z.unknown(),
  /** The previous check's result, when polling. */
  progress: z.looseObject({}).nullable().default(null),
});

export interface ReplaceProgress {
  readonly phase: 'starting-instance' | 'replacing' | 'done' | 'failed';
  readonly taskId: string | null;
  readonly taskState: string | null;
  readonly replacer: string;
  readonly done: boolean;
}

/**
 * One step of the replacement, called repeatedly by the machine: start the
 * instance if stopped (it is still quarantined), then start the replacement task
 * (idempotent by client token), then report the task's state.
 */
export async function advanceReplacement(
  deps: RestoreDeps,
  input: z.output<typeof ReplaceInput>,
): Promise<ReplaceProgress> {
  const plan = input.plan as unknown as RestorePlan;
  parseOrThrow(ApprovalDecision, input.approval, 'approval decision');
  const replacer = deps.replacer!;
  const prev = input.progress as unknown as ReplaceProgress | null;
  if (prev?.taskId) {
    const t = await replacer.describe(deps.ec2, prev.taskId);
    const failed = t.state.startsWith('fail');
    return {
      phase: t.state === 'succeeded' ? 'done' : failed ? 'failed' : 'replacing',
      taskId: prev.taskId,
      taskState: t.state,
      replacer: replacer.name,
      done: t.state === 'succeeded' || failed,
    };
  }
  const cur = await awsCall('ec2:DescribeInstances', () =>
    deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [plan.instanceId] })),
  );
  const state = cur.Reservations?.[0]?.Instances?.[0]?.State?.Name ?? 'unknown';
  if (state === 'stopped') {
    // Replacing a root volume needs a running instance; it is still on the quarantine group.
    await awsCall('ec2:StartInstances', () =>
      deps.ec2.send(new StartInstancesCommand({ InstanceIds: [plan.instanceId] })),
    );
    return { phase: 'starting-instance', taskId: null, taskState: null, replacer: replacer.name, done: false };
  }
  if (state !== 'running')
    return { phase: 'starting-instance', taskId: null, taskState: state, replacer: replacer.name, done: false };
  const clientToken = `${plan.executionId.split(':').pop()}`.slice(0, 64);
  const t = await replacer.start(deps.ec2, { instanceId: plan.instanceId, snapshotId: plan.snapshot.id, clientToken });
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(ctxOf(plan), `Replace the root volume from ${plan.snapshot.id} (${replacer.name})`, 'started'),
  ]);
  return {
    phase: t.state === 'succeeded' ? 'done' : 'replacing',
    taskId: t.taskId,
    taskState: t.state,
    replacer: replacer.name,
    done: t.state === 'succeeded',
  };
}

export const CheckInstanceInput = z.strictObject({ plan: z.looseObject({}) });

export interface InstanceCheck {
  readonly healthy: boolean;
  readonly state: string;
  readonly rootVolumeId: string | null;
  readonly rootReplaced: boolean;
  readonly onlyQuarantine: boolean;
}

/** After the replacement: running, a new root volume, and still isolated (release comes next). */
export async function checkInstance(
  deps: RestoreDeps & { quarantineGroupId: string },
  input: z.output<typeof CheckInstanceInput>,
): Promise<InstanceCheck> {
  const plan = input.plan as unknown as RestorePlan;
  const cur = await awsCall('ec2:DescribeInstances', () =>
    deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [plan.instanceId] })),
  );
  const i = cur.Reservations?.[0]?.Instances?.[0];
  const state = i?.State?.Name ?? 'unknown';
  const root = i ? rootOf(i) : { volumeId: null };
  const onlyQuarantine = (i?.NetworkInterfaces ?? []).every(
    (n) => (n.Groups ?? []).length === 1 && n.Groups?.[0]?.GroupId === deps.quarantineGroupId,
  );
  const rootReplaced = !!root.volumeId && root.volumeId !== plan.rootVolumeId;
  const healthy = state === 'running' && rootReplaced;
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(
      ctxOf(plan),
      `Check the instance: ${state}, root ${root.volumeId ?? '-'}`,
      healthy ? 'succeeded' : 'failed',
    ),
  ]);
  return { healthy, state, rootVolumeId: root.volumeId, rootReplaced, onlyQuarantine };
}

// ---------------------------------------------------------------------------

export const FinishInput = z.strictObject({
  plan: z.looseObject({}),
  approval: z.unknown(),
  check: z.looseObject({}).nullable().default(null),
});

export interface ReleaseResult {
  readonly released: boolean;
  readonly groupsRestored: Record<string, string[]>;
  readonly terminationProtection: boolean;
  readonly instanceProfileAssociated: boolean;
}

/** Puts back the original groups (from the packet), termination protection and the instance profile. */
export async function release(deps: RestoreDeps, input: z.output<typeof FinishInput>): Promise<ReleaseResult> {
  const plan = input.plan as unknown as RestorePlan;
  const approval = parseOrThrow(ApprovalDecision, input.approval, 'approval decision');
  const cur = await awsCall('ec2:DescribeInstances', () =>
    deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [plan.instanceId] })),
  );
  const i = cur.Reservations?.[0]?.Instances?.[0];
  const enis = (i?.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId!).filter(Boolean);
  const restored: Record<string, string[]> = {};
  for (const eni of enis) {
    const groups = plan.originalGroups[eni];
    if (!groups || groups.length === 0) continue;
    await awsCall('ec2:ModifyNetworkInterfaceAttribute', () =>
      deps.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni, Groups: groups })),
    );
    restored[eni] = groups;
  }
  const primary = (i?.NetworkInterfaces ?? []).find((n) => n.Attachment?.DeviceIndex === 0)?.NetworkInterfaceId;
  const primaryGroups = primary ? restored[primary] : undefined;
  if (primaryGroups) {
    // The instance-level view of the primary interface (a no-op in AWS; moto keeps it separately).
    await awsCall('ec2:ModifyInstanceAttribute', () =>
      deps.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: plan.instanceId, Groups: primaryGroups })),
    );
  }
  if (!plan.terminationProtectionBefore) {
    await awsCall('ec2:ModifyInstanceAttribute', () =>
      deps.ec2.send(
        new ModifyInstanceAttributeCommand({ InstanceId: plan.instanceId, DisableApiTermination: { Value: false } }),
      ),
    );
  }
  let associated = false;
  if (plan.instanceProfileArn) {
    const a = await awsCall('ec2:DescribeIamInstanceProfileAssociations', () =>
      deps.ec2.send(
        new DescribeIamInstanceProfileAssociationsCommand({
          Filters: [
            { Name: 'instance-id', Values: [plan.instanceId] },
            { Name: 'state', Values: ['associated', 'associating'] },
          ],
        }),
      ),
    );
    if ((a.IamInstanceProfileAssociations ?? []).length === 0) {
      // Tokens issued from now on pass the deny-before-now statement; the old ones stay revoked.
      await awsCall('ec2:AssociateIamInstanceProfile', () =>
        deps.ec2.send(
          new AssociateIamInstanceProfileCommand({
            InstanceId: plan.instanceId,
            IamInstanceProfile: { Arn: plan.instanceProfileArn! },
          }),
        ),
      );
    }
    associated = true;
  }
  const lineage = [plan.rootVolumeId, ...(tagValue(i?.Tags, RemediationTags.RootVolumeLineage) ?? '').split(',')]
    .filter((v): v is string => !!v)
    .filter((v, k, a) => a.indexOf(v) === k);
  await awsCall('ec2:CreateTags', () =>
    deps.ec2.send(
      new CreateTagsCommand({
        Resources: [plan.instanceId],
        Tags: [{ Key: RemediationTags.RootVolumeLineage, Value: lineage.join(',').slice(0, 256) }],
      }),
    ),
  );
  await awsCall('ec2:DeleteTags', () =>
    deps.ec2.send(
      new DeleteTagsCommand({
        Resources: [plan.instanceId],
        Tags: [{ Key: RemediationTags.QuarantinedAt }, { Key: RemediationTags.PreQuarantineGroups }],
      }),
    ),
  );
  if (plan.sessionId) await deps.store?.releaseSession(plan.sessionId);
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(ctxOf(plan), `Release from quarantine (approved by ${approval.approver})`, 'succeeded'),
    newEvent('health', {
      source: REMEDIATION_SOURCE,
      sessionId: plan.sessionId,
      detail: { type: 'lifecycle', state: 'running', reason: `restored from ${plan.snapshot.id}`.slice(0, 1024) },
    }),
  ]);
  await notify(deps, `aidops: session ${plan.sessionId ?? plan.instanceId} restored and released`, [
    `Restored from ${plan.snapshot.id}; approved by ${approval.approver}${approval.comment ? `: ${approval.comment}` : ''}.`,
    `Groups restored: ${JSON.stringify(restored)}`,
  ]);
  return {
    released: true,
    groupsRestored: restored,
    terminationProtection: plan.terminationProtectionBefore,
    instanceProfileAssociated: associated,
  };
}

/** The approver chose to end the session: the volumes stay (DeleteOnTermination is off), as do the snapshots. */
export async function terminate(deps: RestoreDeps, input: z.output<typeof FinishInput>): Promise<{ terminated: true }> {
  const plan = input.plan as unknown as RestorePlan;
  const approval = parseOrThrow(ApprovalDecision, input.approval, 'approval decision');
  await awsCall('ec2:ModifyInstanceAttribute', () =>
    deps.ec2.send(
      new ModifyInstanceAttributeCommand({ InstanceId: plan.instanceId, DisableApiTermination: { Value: false } }),
    ),
  );
  await awsCall('ec2:TerminateInstances', () =>
    deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: [plan.instanceId] })),
  );
  if (plan.sessionId) await deps.store?.releaseSession(plan.sessionId);
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(ctxOf(plan), `Terminate the instance (approved by ${approval.approver})`, 'succeeded'),
    newEvent('health', {
      source: REMEDIATION_SOURCE,
      sessionId: plan.sessionId,
      detail: { type: 'lifecycle', state: 'stopped', reason: 'terminated after incident' },
    }),
  ]);
  await notify(deps, `aidops: session ${plan.sessionId ?? plan.instanceId} terminated`, [
    `Approved by ${approval.approver}${approval.comment ? `: ${approval.comment}` : ''}. Volumes and snapshots are kept.`,
  ]);
  return { terminated: true };
}

export const KeepInput = z.strictObject({
  plan: z.looseObject({}),
  rejection: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }),
});

/** Rejected (or no answer in time): nothing changes, the session stays quarantined. */
export async function keepQuarantined(
  deps: RestoreDeps,
  input: z.output<typeof KeepInput>,
): Promise<{ outcome: 'rejected' | 'timed-out'; reason: string }> {
  const plan = input.plan as unknown as RestorePlan;
  const outcome = input.rejection.Error === APPROVAL_REJECTED ? 'rejected' : 'timed-out';
  const reason = (input.rejection.Cause ?? '').slice(0, 512);
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(ctxOf(plan), `Restore ${outcome}: keep the session quarantined`, 'succeeded'),
  ]);
  await notify(deps, `aidops: restore of ${plan.sessionId ?? plan.instanceId} ${outcome}`, [
    `The session stays quarantined. ${reason}`,
  ]);
  return { outcome, reason };
}

async function notify(deps: RestoreDeps, subject: string, lines: string[]): Promise<void> {
  if (!deps.sns || !deps.topicArn) return;
  await awsCall('sns:Publish', () =>
    deps.sns!.send(
      new PublishCommand({ TopicArn: deps.topicArn, Subject: subject.slice(0, 99), Message: lines.join('\n') }),
    ),
  );
}
