/**
 * Restore, first step: choose the snapshot (the last completed known-good
 * snapshot of the root volume before the incident, or the one named) and read
 * what the release will put back from the evidence packet.
 */
import { DescribeSnapshotsCommand, type EC2Client, type Instance, type Snapshot } from '@aws-sdk/client-ec2';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { ConflictError } from '../../shared/errors.ts';
import { InstanceId, IsoTime, SessionId, SnapshotId } from '../../shared/ids.ts';
import { Tags, tagValue } from '../../shared/tags.ts';
import { parseOrThrow } from '../../shared/validation.ts';
import { ExecutionArn } from '../addresses.ts';
import { audit, stepContext } from '../audit.ts';
import { EvidencePacketError, SnapshotNotUsableError } from '../errors.ts';
import { type ResolvedInstance, resolveInstance } from '../instances.ts';
import { RESTORE_MACHINE } from '../names.ts';
import { RemediationTags } from '../tags.ts';
import { Groups } from '../tombstone/target.ts';
import type { RestoreDeps } from './deps.ts';

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
  /** The execution input, checked here against RestoreRequest. */
  request: z.unknown(),
  executionId: ExecutionArn,
});
export type PlanInput = z.output<typeof PlanInput>;

/** What the first step chose and read; every later step takes it. */
export const RestorePlan = z.strictObject({
  executionId: ExecutionArn,
  request: RestoreRequest,
  sessionId: z.string().min(1).nullable(),
  instanceId: z.string().min(1),
  state: z.string(),
  incidentId: z.string().nullable(),
  snapshot: z.strictObject({
    id: z.string().min(1),
    startTime: z.string().nullable(),
    volumeId: z.string().nullable(),
  }),
  rootDevice: z.string(),
  rootVolumeId: z.string().nullable(),
  originalGroups: Groups,
  packet: z.strictObject({ s3Uri: z.string(), versionId: z.string().nullable() }).nullable(),
  terminationProtectionBefore: z.boolean(),
  instanceProfileArn: z.string().nullable(),
  chosenBefore: IsoTime,
});
export type RestorePlan = z.output<typeof RestorePlan>;

/** What the plan reads from an evidence packet (see ../tombstone/packet.ts). */
const PacketView = z.looseObject({
  securityGroups: z.looseObject({ original: Groups.optional() }).optional(),
  isolation: z
    .looseObject({ terminationProtection: z.looseObject({ before: z.boolean().optional() }).optional() })
    .optional(),
  credentials: z
    .looseObject({ instanceProfile: z.looseObject({ arn: z.string().optional() }).nullable().optional() })
    .optional(),
  /** The instance as validated, before any change (its profile, even when the revocation step failed). */
  instance: z
    .looseObject({ before: z.looseObject({ iamInstanceProfile: z.string().optional() }).optional() })
    .optional(),
});
type PacketView = z.output<typeof PacketView>;

function parseS3Uri(uri: string): { bucket: string; key: string } | null {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  return m ? { bucket: m[1]!, key: m[2]! } : null;
}

async function readPacket(s3: S3Client, uri: string): Promise<{ packet: PacketView; versionId: string | null }> {
  const loc = parseS3Uri(uri);
  if (!loc) throw new EvidencePacketError(`evidence packet tag is not an s3:// URI: ${uri}`);
  const out = await awsCall('s3:GetObject', () => s3.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key })));
  const text = await out.Body!.transformToString();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new EvidencePacketError(`evidence packet ${uri} is not JSON`);
  }
  const packet = PacketView.safeParse(json);
  if (!packet.success) throw new EvidencePacketError(`evidence packet ${uri} is not a packet`);
  return { packet: packet.data, versionId: out.VersionId ?? null };
}

/** The root device of an instance and the volume on it. */
export function rootOf(i: Instance): { device: string; volumeId: string | null } {
  const maps = i.BlockDeviceMappings ?? [];
  const m = maps.find((b) => b.DeviceName === i.RootDeviceName) ?? maps[0];
  return { device: m?.DeviceName ?? i.RootDeviceName ?? '/dev/xvda', volumeId: m?.Ebs?.VolumeId ?? null };
}

const time = (s: Snapshot) =>
  s.StartTime instanceof Date ? s.StartTime.getTime() : Date.parse(String(s.StartTime ?? 0));

/** The groups, protection and profile to put back: from the packet, else from the instance's tag. */
async function whatToRestore(deps: RestoreDeps, inst: ResolvedInstance) {
  const i = inst.instance;
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
    instanceProfileArn =
      r.packet.credentials?.instanceProfile?.arn ?? r.packet.instance?.before?.iamInstanceProfile ?? instanceProfileArn;
  }
  if (!originalGroups) {
    const tagged = tagValue(i.Tags, RemediationTags.PreQuarantineGroups);
    // A malformed tag counts as none.
    const parsed = tagged ? Groups.safeParse(safeJson(tagged)) : undefined;
    if (parsed?.success) originalGroups = parsed.data;
  }
  if (!originalGroups) {
    throw new ConflictError(
      `instance ${inst.instanceId} carries no evidence packet and no pre-quarantine groups: it was not tombstoned, nothing to release`,
      { instanceId: inst.instanceId },
    );
  }
  return { originalGroups, terminationProtectionBefore, instanceProfileArn, packet };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The named snapshot (checked), or the last completed known-good root snapshot before `before`. */
async function chooseSnapshot(
  ec2: EC2Client,
  request: RestoreRequest,
  inst: ResolvedInstance,
  rootIds: ReadonlySet<string>,
  before: Date,
): Promise<Snapshot> {
  let chosen: Snapshot | undefined;
  if (request.snapshotId) {
    const snapshotId = request.snapshotId;
    const out = await awsCall('ec2:DescribeSnapshots', () =>
      ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })),
    ).catch((e: Error) => {
      if (e.name === 'InvalidSnapshot.NotFound') return { Snapshots: [] };
      throw e;
    });
    chosen = out.Snapshots?.[0];
    if (!chosen) throw new SnapshotNotUsableError(`snapshot ${snapshotId} does not exist`);
    const owner = tagValue(chosen.Tags, Tags.SessionId);
    if (inst.sessionId && owner !== inst.sessionId && !rootIds.has(chosen.VolumeId ?? '')) {
      throw new SnapshotNotUsableError(`snapshot ${snapshotId} is not a snapshot of session ${inst.sessionId}`);
    }
  } else {
    const sessionId = inst.sessionId;
    if (!sessionId) throw new SnapshotNotUsableError('no session tag on the instance: name a snapshotId');
    const out = await awsCall('ec2:DescribeSnapshots', () =>
      ec2.send(
        new DescribeSnapshotsCommand({
          OwnerIds: ['self'],
          Filters: [
            { Name: `tag:${Tags.SessionId}`, Values: [sessionId] },
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
        `no completed known-good snapshot of the root volume of session ${sessionId} before ${before.toISOString()}`,
        { rootVolumes: [...rootIds] },
      );
    }
  }
  if (chosen.State !== 'completed')
    throw new SnapshotNotUsableError(`snapshot ${chosen.SnapshotId} is ${chosen.State}`);
  return chosen;
}

export async function planRestore(deps: RestoreDeps, input: PlanInput): Promise<RestorePlan> {
  const request = parseOrThrow(RestoreRequest, input.request, 'restore request');
  const now = (deps.now ?? (() => new Date()))();
  const inst = await resolveInstance(deps.ec2, request);
  const i = inst.instance;
  const root = rootOf(i);
  const lineage = (tagValue(i.Tags, RemediationTags.RootVolumeLineage) ?? '').split(',').filter(Boolean);
  const rootIds = new Set([root.volumeId, ...lineage].filter((v): v is string => !!v));
  const quarantinedAt = tagValue(i.Tags, RemediationTags.QuarantinedAt);
  const restore = await whatToRestore(deps, inst);
  const before = request.before ? new Date(request.before) : quarantinedAt ? new Date(quarantinedAt) : now;
  const chosen = await chooseSnapshot(deps.ec2, request, inst, rootIds, before);
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
    ...restore,
    chosenBefore: before.toISOString(),
  };
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(stepContext(plan, RESTORE_MACHINE), `Choose the snapshot: ${plan.snapshot.id}`, 'succeeded'),
  ]);
  return plan;
}
