/**
 * Snapshot workflow cores: validate and resolve the request, then take a
 * crash-consistent snapshot of every EBS volume of the session's instance.
 * Creation is idempotent per request id (the execution name), so a retried
 * step never doubles the snapshots.
 */
import { CreateSnapshotsCommand, DescribeSnapshotsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { ValidationError } from '../shared/errors.ts';
import { InstanceId, IsoTime, SessionId } from '../shared/ids.ts';
import { Tags } from '../shared/tags.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { resolveInstance } from './instances.ts';
import { RemediationTags } from './tags.ts';

/** @default expiry of a known-good snapshot when the request names none */
const DEFAULT_SNAPSHOT_TTL_DAYS = 7;
const MAX_SNAPSHOT_TTL_DAYS = 365;

const SnapshotRequest = z
  .strictObject({
    sessionId: SessionId.optional(),
    instanceId: InstanceId.optional(),
    reason: z.string().trim().min(1, 'reason is required').max(256),
    expiresAt: IsoTime.optional(),
    /** Incident the snapshot belongs to, when taken by the tombstone workflow. */
    incidentId: z.string().max(80).optional(),
    knownGood: z.boolean().default(true),
    /**
     * Evidence: no expiry tag (the sweeper never deletes it) and the legal-hold tag.
     * The tombstone workflow sets it; a known-good snapshot never does.
     */
    legalHold: z.boolean().default(false),
  })
  .refine((r) => r.sessionId !== undefined || r.instanceId !== undefined, {
    message: 'name a sessionId or an instanceId',
    path: ['sessionId'],
  })
  .refine((r) => !(r.legalHold && (r.expiresAt !== undefined || r.knownGood)), {
    message: 'a legal-hold snapshot is evidence: it has no expiresAt and is not known-good',
    path: ['legalHold'],
  });

/** What the workflow's first task receives: the execution input as given, and the execution name. */
export const PrepareSnapshotInput = z.strictObject({
  request: z.unknown(),
  /** Idempotency key; the workflow passes its execution name. */
  requestId: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/),
});

export interface PreparedSnapshot {
  readonly requestId: string;
  readonly instanceId: string;
  readonly sessionId: string | null;
  readonly volumeIds: string[];
  readonly reason: string;
  /** null: evidence under legal hold, never expires. */
  readonly expiresAt: string | null;
  readonly incidentId: string | null;
  readonly knownGood: boolean;
  readonly legalHold: boolean;
}

export async function prepareSnapshot(
  ec2: EC2Client,
  input: z.output<typeof PrepareSnapshotInput>,
  now: Date = new Date(),
): Promise<PreparedSnapshot> {
  const req = parseOrThrow(SnapshotRequest, input.request, 'snapshot request');
  const expiresAt = req.expiresAt
    ? new Date(req.expiresAt)
    : new Date(now.getTime() + DEFAULT_SNAPSHOT_TTL_DAYS * 86_400_000);
  if (expiresAt.getTime() <= now.getTime()) {
    throw new ValidationError('invalid snapshot request: expiresAt is in the past', [
      { path: 'expiresAt', message: 'must be in the future' },
    ]);
  }
  if (expiresAt.getTime() > now.getTime() + MAX_SNAPSHOT_TTL_DAYS * 86_400_000) {
    throw new ValidationError(`invalid snapshot request: expiresAt is more than ${MAX_SNAPSHOT_TTL_DAYS} days away`, [
      { path: 'expiresAt', message: `at most ${MAX_SNAPSHOT_TTL_DAYS} days` },
    ]);
  }
  const inst = await resolveInstance(ec2, req);
  return {
    requestId: input.requestId,
    instanceId: inst.instanceId,
    sessionId: inst.sessionId,
    volumeIds: inst.volumeIds,
    reason: req.reason,
    expiresAt: req.legalHold ? null : expiresAt.toISOString(),
    incidentId: req.incidentId ?? null,
    knownGood: req.knownGood,
    legalHold: req.legalHold,
  };
}

export const CreateSnapshotsInput = z.strictObject({
  requestId: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/),
  instanceId: InstanceId,
  sessionId: SessionId.nullable(),
  volumeIds: z.array(z.string()),
  reason: z.string().min(1).max(256),
  expiresAt: IsoTime.nullable(),
  incidentId: z.string().max(80).nullable(),
  knownGood: z.boolean(),
  legalHold: z.boolean().default(false),
});

export interface CreatedSnapshots {
  readonly snapshotIds: string[];
  /** true when this call found the request's snapshots already made (a retry). */
  readonly reused: boolean;
}

/** Snapshots every volume of the instance once per requestId. */
export async function createSnapshots(
  ec2: EC2Client,
  p: z.output<typeof CreateSnapshotsInput>,
): Promise<CreatedSnapshots> {
  const existing = await awsCall('ec2:DescribeSnapshots', () =>
    ec2.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [{ Name: `tag:${Tags.RequestId}`, Values: [p.requestId] }],
      }),
    ),
  );
  const found = (existing.Snapshots ?? []).map((s) => s.SnapshotId!).filter(Boolean);
  if (found.length > 0) return { snapshotIds: found.sort(), reused: true };

  const tags = [
    { Key: Tags.RequestId, Value: p.requestId },
    { Key: Tags.Reason, Value: p.reason },
    ...(p.expiresAt ? [{ Key: Tags.ExpiresAt, Value: p.expiresAt }] : []),
    ...(p.legalHold ? [{ Key: RemediationTags.LegalHold, Value: 'true' }] : []),
    { Key: Tags.KnownGood, Value: String(p.knownGood) },
    { Key: Tags.ManagedBy, Value: 'ai-desktop-ops' },
    ...(p.sessionId ? [{ Key: Tags.SessionId, Value: p.sessionId }] : []),
    ...(p.incidentId ? [{ Key: Tags.IncidentId, Value: p.incidentId }] : []),
  ];
  const out = await awsCall('ec2:CreateSnapshots', () =>
    ec2.send(
      new CreateSnapshotsCommand({
        InstanceSpecification: { InstanceId: p.instanceId, ExcludeBootVolume: false },
        Description: `ai-desktop-ops ${p.knownGood ? 'known-good' : 'evidence'} snapshot: ${p.reason}`.slice(0, 255),
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: tags }],
        CopyTagsFromSource: 'volume',
      }),
    ),
  );
  return { snapshotIds: (out.Snapshots ?? []).map((s) => s.SnapshotId!).sort(), reused: false };
}
