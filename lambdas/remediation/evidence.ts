/**
 * Evidence packet: one JSON manifest per incident, written once to the audit
 * bucket with Object Lock (COMPLIANCE) and a legal hold, through the audit
 * capability's `putLocked`. It names everything a responder or a court needs to
 * find and check the evidence: instance metadata, security groups before and
 * after, snapshot ids, the session's audit objects (key, version id, SHA-256),
 * and this workflow's own timeline.
 */
import { createHash } from 'node:crypto';
import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { GetExecutionHistoryCommand, type SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { normalizePrefix } from '../audit/chain.ts';
import { legalHold, ObjectExistsError, putLocked, retainUntilFrom } from '../audit/retention-guard.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { audit, consoleUrl, RemediationTags, regionOf, type StepContext, stepEvent } from './common.ts';
import type { FreezeResult, IsolationResult, RevokeResult, Target } from './tombstone.ts';
import { TOMBSTONE_MACHINE } from './tombstone.ts';

export const PACKET_FORMAT = 'aidops.evidence-packet/1' as const;
/** Audit objects hashed into the packet; beyond this they are listed with S3's own checksum only. */
export const MAX_HASHED_AUDIT_OBJECTS = 500;

export const EvidenceInput = z.strictObject({
  target: z.looseObject({}),
  isolation: z.looseObject({}),
  credentials: z.looseObject({}),
  freeze: z.looseObject({}),
  /** Output of the aidops-snapshot child execution; null in a dry run. */
  snapshots: z.looseObject({ snapshotIds: z.array(z.string()) }).nullable(),
  stateMachine: z.string().default(TOMBSTONE_MACHINE),
});

export interface EvidenceConfig {
  readonly bucket: string;
  /** SSE-KMS key of the audit bucket. */
  readonly kmsKeyId: string;
  readonly retentionDays: number;
  /** @default 'evidence/' */
  readonly prefix?: string;
  /** Where the audit chains live. @default 'audit/' */
  readonly auditPrefix?: string;
}

export interface EvidenceDeps {
  readonly ec2: EC2Client;
  readonly s3: S3Client;
  readonly sfn: SFNClient;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  readonly config: EvidenceConfig;
  readonly now?: () => Date;
}

export interface EvidenceResult {
  readonly dryRun: boolean;
  readonly bucket: string;
  readonly key: string;
  readonly versionId: string | null;
  readonly sha256: string;
  readonly legalHold: boolean;
  readonly s3Uri: string;
  readonly url: string;
  readonly auditObjects: number;
  readonly timelineEntries: number;
  /** true when the packet already existed (a retried step). */
  readonly reused: boolean;
}

export interface AuditObjectRef {
  readonly key: string;
  readonly versionId: string;
  readonly sha256: string | null;
  readonly size: number;
  readonly lastModified: string | null;
}

export function packetKey(prefix: string, sessionOrInstance: string, incidentId: string): string {
  return `${normalizePrefix(prefix)}${sessionOrInstance}/${incidentId}/packet.json`;
}

/** Every version of the session's audit chain objects, hashed (bounded). */
export async function listAuditObjects(
  s3: S3Client,
  bucket: string,
  auditPrefix: string,
  sessionId: string,
): Promise<{ objects: AuditObjectRef[]; truncated: boolean }> {
  const prefix = `${normalizePrefix(auditPrefix)}chains/${sessionId}/`;
  const objects: AuditObjectRef[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  let truncated = false;
  do {
    const page = await awsCall('s3:ListObjectVersions', () =>
      s3.send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
        }),
      ),
    );
    for (const v of page.Versions ?? []) {
      if (!v.Key || !v.VersionId) continue;
      let sha256: string | null = null;
      if (objects.length < MAX_HASHED_AUDIT_OBJECTS) {
        const obj = await awsCall('s3:GetObject', () =>
          s3.send(new GetObjectCommand({ Bucket: bucket, Key: v.Key, VersionId: v.VersionId })),
        );
        const bytes = await obj.Body!.transformToByteArray();
        sha256 = createHash('sha256').update(bytes).digest('hex');
      } else truncated = true;
      objects.push({
        key: v.Key,
        versionId: v.VersionId,
        sha256,
        size: v.Size ?? 0,
        lastModified: v.LastModified ? v.LastModified.toISOString() : null,
      });
    }
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (keyMarker);
  objects.sort((a, b) => a.key.localeCompare(b.key));
  return { objects, truncated };
}

export interface TimelineEntry {
  readonly time: string;
  readonly type: string;
  readonly state?: string;
  readonly error?: string;
}

/** This execution's history, condensed to state entries/exits, retries and failures, with timestamps. */
export async function executionTimeline(sfn: SFNClient, executionArn: string): Promise<TimelineEntry[]> {
  const out: TimelineEntry[] = [];
  let next: string | undefined;
  do {
    const page = await awsCall('states:GetExecutionHistory', () =>
      sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken: next, maxResults: 1000 })),
    );
    for (const e of page.events ?? []) {
      const type = String(e.type ?? '');
      if (!/StateEntered|StateExited|Retried|Failed|Caught|ExecutionStarted|TaskSubmitted/.test(type)) continue;
      const ev = e as typeof e & { stateName?: string; error?: string };
      const state = e.stateEnteredEventDetails?.name ?? e.stateExitedEventDetails?.name ?? ev.stateName;
      const time =
        e.timestamp instanceof Date ? e.timestamp.toISOString() : new Date(Number(e.timestamp) * 1000).toISOString();
      out.push({ time, type, ...(state ? { state } : {}), ...(ev.error ? { error: ev.error } : {}) });
    }
    next = page.nextToken;
  } while (next);
  return out;
}

export async function writeEvidence(
  deps: EvidenceDeps,
  input: z.output<typeof EvidenceInput>,
): Promise<EvidenceResult> {
  const now = (deps.now ?? (() => new Date()))();
  const t = input.target as unknown as Target;
  const isolation = input.isolation as unknown as IsolationResult;
  const credentials = input.credentials as unknown as RevokeResult;
  const frozen = input.freeze as unknown as FreezeResult;
  const dryRun = t.request.dryRun;
  const cfg = deps.config;
  const region = regionOf();
  const owner = t.sessionId ?? t.instanceId;
  const key = packetKey(cfg.prefix ?? 'evidence/', owner, t.incidentId);

  const after = await awsCall('ec2:DescribeInstances', () =>
    deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [t.instanceId] })),
  );
  const inst = after.Reservations?.[0]?.Instances?.[0];
  const snapshotIds = input.snapshots?.snapshotIds ?? [];
  const snaps =
    snapshotIds.length > 0
      ? await awsCall('ec2:DescribeSnapshots', () =>
          deps.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds })),
        )
      : { Snapshots: [] };
  const auditObjects = t.sessionId
    ? await listAuditObjects(deps.s3, cfg.bucket, cfg.auditPrefix ?? 'audit/', t.sessionId)
    : { objects: [], truncated: false };
  const timeline = await executionTimeline(deps.sfn, t.executionId);

  const manifest = {
    format: PACKET_FORMAT,
    incidentId: t.incidentId,
    execution: t.executionId,
    createdAt: now.toISOString(),
    sessionId: t.sessionId,
    instanceId: t.instanceId,
    request: {
      reason: t.request.reason,
      source: t.request.source,
      requestedBy: t.request.requestedBy,
    },
    instance: {
      before: t.instance,
      after: inst
        ? {
            state: inst.State?.Name,
            networkInterfaces: (inst.NetworkInterfaces ?? []).map((n) => ({
              id: n.NetworkInterfaceId,
              groups: (n.Groups ?? []).map((g) => g.GroupId),
            })),
            iamInstanceProfile: inst.IamInstanceProfile?.Arn ?? null,
          }
        : null,
    },
    securityGroups: {
      original: isolation.originalGroups,
      before: isolation.groupsBefore,
      after: isolation.groupsAfter,
    },
    isolation: {
      startedAt: isolation.startedAt,
      quarantineAppliedAt: isolation.quarantineAppliedAt,
      finishedAt: isolation.finishedAt,
      terminationProtection: isolation.terminationProtection,
      deleteOnTerminationDisabled: isolation.deleteOnTerminationDisabled,
      elasticIps: isolation.elasticIps,
      networkAcl: isolation.networkAcl,
    },
    credentials: {
      revokedBefore: credentials.revokedBefore,
      role: credentials.role,
      policyName: credentials.policyName,
      instanceProfile: credentials.instanceProfile,
      secrets: credentials.secrets,
    },
    freeze: { mode: frozen.mode, commandId: frozen.commandId, requestedAt: frozen.requestedAt },
    snapshots: (snaps.Snapshots ?? []).map((s) => ({
      snapshotId: s.SnapshotId,
      volumeId: s.VolumeId,
      state: s.State,
      startTime: s.StartTime instanceof Date ? s.StartTime.toISOString() : s.StartTime,
      volumeSize: s.VolumeSize,
      encrypted: s.Encrypted,
      url: consoleUrl.snapshot(region, s.SnapshotId ?? ''),
    })),
    audit: {
      bucket: cfg.bucket,
      prefix: normalizePrefix(cfg.auditPrefix ?? 'audit/'),
      objects: auditObjects.objects,
      truncated: auditObjects.truncated,
    },
    /** Step Functions' own history of this execution (state names where the API gives them). */
    timeline,
    /** This workflow's step times as each step recorded them. */
    steps: [
      { step: 'validated', time: t.validatedAt },
      { step: 'isolation started', time: isolation.startedAt },
      { step: 'quarantine group applied', time: isolation.quarantineAppliedAt },
      { step: 'isolation finished', time: isolation.finishedAt },
      { step: 'credentials revoked (tokens issued before)', time: credentials.revokedBefore },
      { step: `freeze requested (${frozen.mode})`, time: frozen.requestedAt },
      { step: 'evidence packet written', time: now.toISOString() },
    ].filter((x) => x.time),
  };
  const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
  const sha256 = createHash('sha256').update(body).digest('hex');
  const s3Uri = `s3://${cfg.bucket}/${key}`;
  const url = consoleUrl.s3Object(region, cfg.bucket, key);
  const ctx: StepContext = {
    executionId: t.executionId,
    stateMachine: input.stateMachine,
    sessionId: t.sessionId,
    requestedBy: t.request.requestedBy,
  };
  const base = {
    bucket: cfg.bucket,
    key,
    s3Uri,
    url,
    auditObjects: auditObjects.objects.length,
    timelineEntries: timeline.length,
  };

  if (dryRun) {
    await audit(deps.eventBridge, deps.busName, [stepEvent(ctx, 'Write the evidence packet (dry run)', 'succeeded')]);
    return { ...base, dryRun, versionId: null, sha256, legalHold: false, reused: false };
  }
  let versionId: string;
  let written = sha256;
  let reused = false;
  try {
    const r = await putLocked(deps.s3, {
      bucket: cfg.bucket,
      key,
      body,
      kmsKeyId: cfg.kmsKeyId,
      retainUntil: retainUntilFrom(now, cfg.retentionDays),
      mode: 'COMPLIANCE',
      contentType: 'application/json',
      legalHold: true,
      metadata: { 'aidops-incident-id': t.incidentId, 'aidops-format': PACKET_FORMAT },
    });
    versionId = r.versionId;
  } catch (e) {
    if (!(e instanceof ObjectExistsError)) throw e;
    // A retried step: the first packet stands (it cannot be replaced anyway).
    const head = await awsCall('s3:HeadObject', () =>
      deps.s3.send(new HeadObjectCommand({ Bucket: cfg.bucket, Key: key })),
    );
    versionId = head.VersionId ?? '';
    const obj = await deps.s3.send(new GetObjectCommand({ Bucket: cfg.bucket, Key: key, VersionId: versionId }));
    written = createHash('sha256')
      .update(await obj.Body!.transformToByteArray())
      .digest('hex');
    reused = true;
  }
  // The hold is what keeps the packet past its retention; make sure it is on (a retried write may predate it).
  const hold = await deps.s3
    .send(new GetObjectLegalHoldCommand({ Bucket: cfg.bucket, Key: key, VersionId: versionId }))
    .catch(() => undefined);
  if (hold?.LegalHold?.Status !== 'ON')
    await awsCall('s3:PutObjectLegalHold', () => legalHold(deps.s3, cfg.bucket, key, versionId, true));
  await awsCall('ec2:CreateTags', () =>
    deps.ec2.send(
      new CreateTagsCommand({
        Resources: [t.instanceId],
        Tags: [{ Key: RemediationTags.EvidencePacket, Value: `${s3Uri}`.slice(0, 256) }],
      }),
    ),
  );
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(ctx, 'Write the evidence packet under legal hold', 'succeeded'),
  ]);
  return { ...base, dryRun, versionId, sha256: written, legalHold: true, reused };
}
