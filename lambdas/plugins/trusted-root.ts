/**
 * The deployment's Sigstore trusted root, cached in S3.
 *
 * A daily scheduled job (`refreshTrustedRoot`) walks Sigstore's TUF repository with
 * @sigstore/tuf (which checks the TUF signatures chain from its embedded root) and
 * writes `trusted_root.json` to the cache bucket with its fetch time. Verifiers load
 * it with `loadTrustedRoot`, which refuses a cached root older than the configured
 * max age with TrustedRootStaleError: a root that stopped refreshing would keep
 * trusting keys Sigstore may have rotated out, so staleness fails closed.
 */
import { GetObjectCommand, type GetObjectCommandOutput, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { awsCall } from '../shared/aws-errors.ts';
import { NotFoundError } from '../shared/errors.ts';
import { TrustedRootStaleError } from './errors.ts';

/** S3 object metadata key holding the ISO time the root was fetched from TUF. */
export const FETCHED_AT_META = 'fetched-at';
/** @default max age: 7 days (the job runs daily; a week of failed refreshes is an incident). */
export const DEFAULT_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

export interface TrustedRootLocation {
  readonly bucket: string;
  /** @default 'sigstore/trusted_root.json' */
  readonly key?: string;
}
const keyOf = (l: TrustedRootLocation) => l.key ?? 'sigstore/trusted_root.json';

/** Fetches the current trusted root JSON; the default walks Sigstore's public-good TUF repo. */
export type TrustedRootFetcher = () => Promise<unknown>;

export const tufFetcher =
  (opts: { mirrorURL?: string; cachePath?: string } = {}): TrustedRootFetcher =>
  async () => {
    const { getTrustedRoot } = await import('@sigstore/tuf');
    // Lambda's only writable path is /tmp; the TUF client keeps its metadata there between warm calls.
    const root = await getTrustedRoot({
      cachePath: opts.cachePath ?? '/tmp/sigstore-tuf',
      ...(opts.mirrorURL ? { mirrorURL: opts.mirrorURL } : {}),
    });
    const { TrustedRoot } = await import('@sigstore/protobuf-specs');
    return TrustedRoot.toJSON(root);
  };

export interface RefreshResult {
  readonly bucket: string;
  readonly key: string;
  readonly fetchedAt: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** Scheduled job core: fetch via TUF, write to S3 with the fetch time. */
export async function refreshTrustedRoot(
  s3: S3Client,
  loc: TrustedRootLocation,
  fetcher: TrustedRootFetcher = tufFetcher(),
  now: Date = new Date(),
): Promise<RefreshResult> {
  const json = await fetcher();
  const body = Buffer.from(JSON.stringify(json, null, 2));
  const { createHash } = await import('node:crypto');
  const sha256 = createHash('sha256').update(body).digest('hex');
  await awsCall('s3:PutObject', () =>
    s3.send(
      new PutObjectCommand({
        Bucket: loc.bucket,
        Key: keyOf(loc),
        Body: body,
        ContentType: 'application/json',
        Metadata: { [FETCHED_AT_META]: now.toISOString() },
      }),
    ),
  );
  return { bucket: loc.bucket, key: keyOf(loc), fetchedAt: now.toISOString(), bytes: body.length, sha256 };
}

export interface LoadedTrustedRoot {
  readonly json: Buffer;
  readonly fetchedAt: Date;
  readonly ageMs: number;
}

/** Age of a cached root: its `fetched-at` metadata, else the object's LastModified. */
export function rootAgeMs(fetchedAt: Date, now: Date): number {
  return Math.max(0, now.getTime() - fetchedAt.getTime());
}

/** Loads the cached root or throws TrustedRootStaleError / NotFoundError. */
export async function loadTrustedRoot(
  s3: S3Client,
  loc: TrustedRootLocation,
  opts: { maxAgeMs?: number; now?: Date } = {},
): Promise<LoadedTrustedRoot> {
  const now = opts.now ?? new Date();
  const maxAge = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  let obj: GetObjectCommandOutput;
  try {
    obj = await awsCall('s3:GetObject', () => s3.send(new GetObjectCommand({ Bucket: loc.bucket, Key: keyOf(loc) })));
  } catch (e) {
    if ((e as { name?: string }).name === 'NoSuchKey')
      throw new NotFoundError(`no cached trusted root at s3://${loc.bucket}/${keyOf(loc)}; run the refresh job`, {
        bucket: loc.bucket,
        key: keyOf(loc),
      });
    throw e;
  }
  const meta = obj.Metadata?.[FETCHED_AT_META];
  const fetchedAt = meta && !Number.isNaN(Date.parse(meta)) ? new Date(meta) : (obj.LastModified ?? new Date(0));
  const ageMs = rootAgeMs(fetchedAt, now);
  if (ageMs > maxAge)
    throw new TrustedRootStaleError(
      `cached trusted root s3://${loc.bucket}/${keyOf(loc)} was fetched ${fetchedAt.toISOString()}, ` +
        `${Math.round(ageMs / 3600_000)} h ago (max ${Math.round(maxAge / 3600_000)} h); the refresh job is failing`,
      { fetchedAt: fetchedAt.toISOString(), ageMs, maxAgeMs: maxAge },
    );
  const bytes = await obj.Body?.transformToByteArray();
  return { json: Buffer.from(bytes ?? new Uint8Array()), fetchedAt, ageMs };
}
