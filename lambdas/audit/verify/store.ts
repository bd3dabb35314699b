/**
 * What the verifier reads: every version and delete marker under a prefix, and
 * one version's bytes and Object Lock state. An interface, so the benchmark can
 * measure the verifier alone; `s3AuditStore` is the real one.
 */
import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { awsCall, type ClassifyOptions } from '../../shared/aws-errors.ts';

export interface VersionInfo {
  readonly key: string;
  readonly versionId: string;
  readonly lastModified: Date;
  readonly size: number;
  readonly deleteMarker: boolean;
}

export interface FetchedObject {
  readonly lockMode: string | undefined;
  readonly retainUntil: Date | undefined;
  readonly legalHold: boolean;
  readonly body: AsyncIterable<Uint8Array>;
}

export interface AuditStore {
  listVersions(prefix: string): AsyncIterable<VersionInfo>;
  get(key: string, versionId: string): Promise<FetchedObject>;
}

/** `opts.endpoint` names the endpoint in an EndpointUnreachableError (the CLI's `--endpoint`). */
export function s3AuditStore(s3: S3Client, bucket: string, opts: ClassifyOptions = {}): AuditStore {
  return {
    async *listVersions(prefix) {
      let keyMarker: string | undefined;
      let versionMarker: string | undefined;
      for (;;) {
        const out = await awsCall(
          's3:ListObjectVersions',
          () =>
            s3.send(
              new ListObjectVersionsCommand({
                Bucket: bucket,
                Prefix: prefix,
                KeyMarker: keyMarker,
                VersionIdMarker: versionMarker,
              }),
            ),
          opts,
        );
        for (const v of out.Versions ?? []) {
          if (!v.Key || !v.VersionId) continue;
          yield {
            key: v.Key,
            versionId: v.VersionId,
            lastModified: v.LastModified ?? new Date(0),
            size: v.Size ?? 0,
            deleteMarker: false,
          };
        }
        for (const d of out.DeleteMarkers ?? []) {
          if (!d.Key || !d.VersionId) continue;
          yield {
            key: d.Key,
            versionId: d.VersionId,
            lastModified: d.LastModified ?? new Date(0),
            size: 0,
            deleteMarker: true,
          };
        }
        if (!out.IsTruncated) break;
        keyMarker = out.NextKeyMarker;
        versionMarker = out.NextVersionIdMarker;
      }
    },
    async get(key, versionId) {
      const out = await awsCall(
        's3:GetObject',
        () => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId })),
        opts,
      );
      return {
        lockMode: out.ObjectLockMode,
        retainUntil: out.ObjectLockRetainUntilDate,
        legalHold: out.ObjectLockLegalHoldStatus === 'ON',
        body: out.Body as unknown as AsyncIterable<Uint8Array>,
      };
    },
  };
}
