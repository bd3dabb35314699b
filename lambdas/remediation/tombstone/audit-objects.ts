/** The session's audit trail as evidence: every version of its chain objects, hashed (bounded). */
import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { normalizePrefix } from '../../audit/chain.ts';
import { awsCall } from '../../shared/aws-errors.ts';

/** Audit objects hashed into the packet; beyond this they are listed with S3's own checksum only. */
const MAX_HASHED_AUDIT_OBJECTS = 500;

export interface AuditObjectRef {
  readonly key: string;
  readonly versionId: string;
  readonly sha256: string | null;
  readonly size: number;
  readonly lastModified: string | null;
}

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
