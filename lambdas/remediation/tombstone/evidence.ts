/**
 * Write the evidence packet: gather what the packet names (the instance now, the
 * snapshots, the session's audit objects, the execution's history), build it,
 * and write it once to the audit bucket with Object Lock (COMPLIANCE) and a legal
 * hold, through the audit capability's `putLocked`. A retried step keeps the
 * first packet (it cannot be replaced anyway).
 */
import { createHash } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, GetObjectLegalHoldCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { legalHold, ObjectExistsError, putLocked, retainUntilFrom } from '../../audit/retention-guard.ts';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import type { MetricSink } from '../../shared/middleware.ts';
import { consoleUrl, executionParts } from '../addresses.ts';
import { audit, stepContext } from '../audit.ts';
import { sessionEvents } from '../report/events.ts';
import { type ChainVerdict, REPORT_FORMAT, renderReport, triggerTime } from '../report/render.ts';
import { RemediationTags } from '../tags.ts';
import { auditTrailStatus, listAuditObjects } from './audit-objects.ts';
import { SessionEndResult } from './end-session.ts';
import { FailedStep } from './failed-step.ts';
import { FreezeResult } from './freeze.ts';
import { IsolationResult } from './isolate.ts';
import { buildPacket, PACKET_FORMAT, packetKey, reportKey } from './packet.ts';
import { RevokeResult } from './revoke.ts';
import { StepFields } from './target.ts';
import { executionTimeline } from './timeline.ts';

/** Output of the aidops-snapshot child execution; null when there is none. */
export const TakenSnapshots = z
  .strictObject({
    snapshotIds: z.array(z.string()),
    executionArn: z.string().nullable(),
    /** Why there are none (a dry run takes no snapshots). */
    skipped: z.string().optional(),
    /** The snapshot child failed: what the workflow recorded (and paged) before going on without them. */
    failure: z.strictObject({ error: z.string(), cause: z.string(), paged: z.boolean() }).optional(),
  })
  .nullable();

export const EvidenceInput = z.strictObject({
  ...StepFields,
  isolation: IsolationResult,
  /** The revocation, or how it failed (the workflow went on). */
  credentials: z.union([RevokeResult, FailedStep]),
  /** Ending the session, or how it failed. */
  sessionEnd: z.union([SessionEndResult, FailedStep]).nullable().default(null),
  freeze: FreezeResult,
  snapshots: TakenSnapshots,
});
export type EvidenceInput = z.output<typeof EvidenceInput>;

export const EvidenceResult = z.strictObject({
  dryRun: z.boolean(),
  bucket: z.string(),
  key: z.string(),
  versionId: z.string().nullable(),
  sha256: z.string(),
  legalHold: z.boolean(),
  s3Uri: z.string(),
  url: z.string(),
  auditObjects: z.number().int().min(0),
  timelineEntries: z.number().int().min(0),
  /** Every step did its part and the audit trail had caught up (else the packet says what is missing). */
  complete: z.boolean(),
  /** true when the packet already existed (a retried step). */
  reused: z.boolean(),
  /** The incident report beside the packet (null in a dry run). */
  report: z.strictObject({ key: z.string(), versionId: z.string(), sha256: z.string() }).nullable().default(null),
});
export type EvidenceResult = z.output<typeof EvidenceResult>;

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
  /** Operations metrics: TimeToEvidence. */
  readonly metric?: MetricSink;
  /** The verifier's verdict on the session's chain for the report; absent: the report says it was not checked. */
  readonly chainVerdict?: (sessionId: string) => Promise<ChainVerdict | null>;
  /** Time-to-isolation objective the report measures against. @default 60 000 ms */
  readonly isolationObjectiveMs?: number;
}

const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Writes the packet locked and held; a packet already there (a retried step) stands, and is reported. */
async function writeOnce(
  s3: S3Client,
  cfg: EvidenceConfig,
  packet: { key: string; body: Buffer; incidentId: string; now: Date; contentType?: string; format?: string },
): Promise<{ versionId: string; sha256: string; reused: boolean }> {
  const { key, body } = packet;
  let versionId: string;
  let sha256 = sha256Hex(body);
  let reused = false;
  try {
    const r = await putLocked(s3, {
      bucket: cfg.bucket,
      key,
      body,
      kmsKeyId: cfg.kmsKeyId,
      retainUntil: retainUntilFrom(packet.now, cfg.retentionDays),
      mode: 'COMPLIANCE',
      contentType: packet.contentType ?? 'application/json',
      legalHold: true,
      metadata: { 'aidops-incident-id': packet.incidentId, 'aidops-format': packet.format ?? PACKET_FORMAT },
    });
    versionId = r.versionId;
  } catch (e) {
    if (!(e instanceof ObjectExistsError)) throw e;
    const head = await awsCall('s3:HeadObject', () => s3.send(new HeadObjectCommand({ Bucket: cfg.bucket, Key: key })));
    versionId = head.VersionId ?? '';
    const obj = await awsCall('s3:GetObject', () =>
      s3.send(new GetObjectCommand({ Bucket: cfg.bucket, Key: key, VersionId: versionId })),
    );
    sha256 = sha256Hex(await obj.Body!.transformToByteArray());
    reused = true;
  }
  // The hold is what keeps the packet past its retention; make sure it is on (a retried write may predate it).
  const hold = await s3
    .send(new GetObjectLegalHoldCommand({ Bucket: cfg.bucket, Key: key, VersionId: versionId }))
    .catch(() => undefined);
  if (hold?.LegalHold?.Status !== 'ON')
    await awsCall('s3:PutObjectLegalHold', () => legalHold(s3, cfg.bucket, key, versionId, true));
  return { versionId, sha256, reused };
}

export async function writeEvidence(deps: EvidenceDeps, input: EvidenceInput): Promise<EvidenceResult> {
  const now = (deps.now ?? (() => new Date()))();
  const t = input.target;
  const dryRun = t.request.dryRun;
  const cfg = deps.config;
  const where = executionParts(t.executionId);
  const key = packetKey(cfg.prefix ?? 'evidence/', t.sessionId ?? t.instanceId, t.incidentId);

  const after = await awsCall('ec2:DescribeInstances', () =>
    deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [t.instanceId] })),
  );
  const snapshotIds = input.snapshots?.snapshotIds ?? [];
  const snaps =
    snapshotIds.length > 0
      ? await awsCall('ec2:DescribeSnapshots', () =>
          deps.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds })),
        )
      : { Snapshots: [] };
  const auditPrefix = cfg.auditPrefix ?? 'audit/';
  const auditObjects = t.sessionId
    ? await listAuditObjects(deps.s3, cfg.bucket, auditPrefix, t.sessionId)
    : { objects: [], truncated: false };
  const newest = auditObjects.objects.reduce<Date | null>((m, o) => {
    const at = o.lastModified ? new Date(o.lastModified) : null;
    return at && (!m || at > m) ? at : m;
  }, null);
  const trail = t.sessionId ? auditTrailStatus(newest, new Date(t.validatedAt)) : null;
  const timeline = await executionTimeline(deps.sfn, t.executionId);

  const built = buildPacket({
    target: t,
    isolation: input.isolation,
    credentials: input.credentials,
    sessionEnd: input.sessionEnd,
    freeze: input.freeze,
    instanceAfter: after.Reservations?.[0]?.Instances?.[0],
    snapshots: snaps.Snapshots ?? [],
    snapshotFailure: input.snapshots?.failure ?? null,
    audit: { bucket: cfg.bucket, prefix: auditPrefix, ...auditObjects, status: trail },
    timeline,
    where,
    createdAt: now,
  });
  const report = dryRun ? null : await writeReport(deps, built, now);
  const packet = report ? { ...built, report } : built;
  const body = Buffer.from(`${JSON.stringify(packet, null, 2)}\n`, 'utf8');
  const s3Uri = `s3://${cfg.bucket}/${key}`;
  const ctx = stepContext(t, input.stateMachine);
  const base = {
    dryRun,
    bucket: cfg.bucket,
    key,
    s3Uri,
    url: consoleUrl.s3Object(where, cfg.bucket, key),
    auditObjects: auditObjects.objects.length,
    timelineEntries: timeline.length,
    complete: packet.complete,
  };

  if (dryRun) {
    await audit(deps.eventBridge, deps.busName, [stepEvent(ctx, 'Write the evidence packet (dry run)', 'succeeded')]);
    return { ...base, versionId: null, sha256: sha256Hex(body), legalHold: false, reused: false, report: null };
  }
  const written = await writeOnce(deps.s3, cfg, { key, body, incidentId: t.incidentId, now });
  // From the triggering event's own time to the packet sealed; a packet already there was counted when written.
  if (!written.reused && t.request.triggeredAt)
    deps.metric?.('TimeToEvidence', MetricUnit.Seconds, (now.getTime() - Date.parse(t.request.triggeredAt)) / 1000);
  await awsCall('ec2:CreateTags', () =>
    deps.ec2.send(
      new CreateTagsCommand({
        Resources: [t.instanceId],
        Tags: [{ Key: RemediationTags.EvidencePacket, Value: s3Uri.slice(0, 256) }],
      }),
    ),
  );
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(ctx, 'Write the evidence packet under legal hold', 'succeeded'),
  ]);
  return { ...base, ...written, legalHold: true, report };
}

/**
 * The report a person reads, written before the packet (so the packet names its
 * version and hash), locked and held the same way. The report names no packet
 * hash (that would be circular); the packet is the manifest of both.
 */
async function writeReport(
  deps: EvidenceDeps,
  packet: ReturnType<typeof buildPacket>,
  now: Date,
): Promise<{ key: string; versionId: string; sha256: string }> {
  const cfg = deps.config;
  const key = reportKey(cfg.prefix ?? 'evidence/', packet.sessionId ?? packet.instanceId, packet.incidentId);
  const sessionId = packet.sessionId;
  const events = sessionId
    ? await sessionEvents(deps.s3, cfg.bucket, packet.audit.objects, triggerTime(packet) ?? packet.createdAt)
    : [];
  const chain = sessionId && deps.chainVerdict ? await deps.chainVerdict(sessionId) : null;
  const html = renderReport({
    packet,
    events,
    chain,
    ticket: null,
    objectiveMs: deps.isolationObjectiveMs,
  });
  const body = Buffer.from(html, 'utf8');
  const w = await writeOnce(deps.s3, cfg, {
    key,
    body,
    incidentId: packet.incidentId,
    now,
    contentType: 'text/html; charset=utf-8',
    format: REPORT_FORMAT,
  });
  return { key, versionId: w.versionId, sha256: w.sha256 };
}
