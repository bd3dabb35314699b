/**
 * The session's audit trail as evidence: every version of its chain objects,
 * hashed (bounded), and whether the audit pipeline had written the session's
 * events up to the incident (the newest object is not older than the incident).
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { normalizePrefix } from '../../audit/chain.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { IsoTime } from '../../shared/ids.ts';
import { AuditTrailBehindError } from '../errors.ts';
import { StepFields } from './target.ts';

/** Audit objects hashed into the packet; beyond this they are listed with S3's own checksum only. */
const MAX_HASHED_AUDIT_OBJECTS = 500;

export interface AuditObjectRef {
  readonly key: string;
  readonly versionId: string;
  readonly sha256: string | null;
  readonly size: number;
  readonly lastModified: string | null;
}

const chainPrefix = (auditPrefix: string, sessionId: string) => `${normalizePrefix(auditPrefix)}chains/${sessionId}/`;

export const AuditTrailStatus = z.strictObject({
  /** The pipeline had written the session's events up to the incident. */
  complete: z.boolean(),
  incidentAt: IsoTime,
  newestObjectAt: IsoTime.nullable(),
  reason: z.string().optional(),
});
export type AuditTrailStatus = z.output<typeof AuditTrailStatus>;

/**
 * Caught up when the session's newest audit object was written at or after the
 * incident (S3 times have a resolution of one second): the pipeline writes a
 * session's events in order, and the tombstone's own events follow the incident.
 */
export function auditTrailStatus(newest: Date | null, incidentAt: Date): AuditTrailStatus {
  const floor = Math.floor(incidentAt.getTime() / 1000) * 1000;
  const complete = newest !== null && newest.getTime() >= floor;
  return {
    complete,
    incidentAt: incidentAt.toISOString(),
    newestObjectAt: newest ? newest.toISOString() : null,
    ...(complete
      ? {}
      : {
          reason: newest
            ? `the newest audit object of the session was written at ${newest.toISOString()}, before the incident at ${incidentAt.toISOString()}: the audit pipeline had not written the session's latest events`
            : `no audit object of the session had been written by the time of the packet (incident at ${incidentAt.toISOString()})`,
        }),
  };
}

/** When the newest version under the session's chain prefix was written; null when there is none. */
export async function newestAuditObject(
  s3: S3Client,
  bucket: string,
  auditPrefix: string,
  sessionId: string,
): Promise<Date | null> {
  let newest: Date | null = null;
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  do {
    const page = await awsCall('s3:ListObjectVersions', () =>
      s3.send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          Prefix: chainPrefix(auditPrefix, sessionId),
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
        }),
      ),
    );
    for (const v of page.Versions ?? [])
      if (v.LastModified && (!newest || v.LastModified > newest)) newest = v.LastModified;
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (keyMarker);
  return newest;
}

export const AuditCheckInput = z.strictObject(StepFields);
export type AuditCheckInput = z.output<typeof AuditCheckInput>;

/**
 * The tombstone's bounded wait for the audit pipeline: `AuditTrailBehindError`
 * while the session's events up to the incident are not written (the machine
 * retries it for a bounded time, then goes on; the packet says whether it caught up).
 */
export async function checkAuditTrail(
  deps: { readonly s3: S3Client; readonly bucket: string; readonly auditPrefix: string },
  input: AuditCheckInput,
): Promise<AuditTrailStatus> {
  const t = input.target;
  const incidentAt = new Date(t.validatedAt);
  if (!t.sessionId)
    return { complete: true, incidentAt: t.validatedAt, newestObjectAt: null, reason: 'no session: no audit trail' };
  const status = auditTrailStatus(
    await newestAuditObject(deps.s3, deps.bucket, deps.auditPrefix, t.sessionId),
    incidentAt,
  );
  // A dry run does not wait.
  if (!status.complete && !t.request.dryRun) throw new AuditTrailBehindError(status.reason ?? 'behind', status);
  return status;
}

export async function listAuditObjects(
  s3: S3Client,
  bucket: string,
  auditPrefix: string,
  sessionId: string,
): Promise<{ objects: AuditObjectRef[]; truncated: boolean }> {
  const prefix = chainPrefix(auditPrefix, sessionId);
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
