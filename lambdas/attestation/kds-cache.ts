/**
 * The deployment's cache of AMD certificates in S3, fed from AMD KDS:
 *  - `refreshAmdChains` (daily) fetches `/{vcek|vlek}/v1/{Product}/cert_chain` for Milan,
 *    Genoa and Turin, and writes each chain (with its fetch time) only after it verifies,
 *    so a bad answer leaves the previous good object in place.
 *  - `fetchVcek` serves a VCEK by (product, chip, TCB) from the cache, else fetches it,
 *    verifies it against the cached ASK and caches it. A VCEK never changes for a
 *    (chip, TCB), so its entry does not go stale; the verifier checks its validity.
 *  - `loadAmdChain` reads a cached chain and refuses one older than `maxAgeMs`
 *    (AmdCertsStaleError naming the object and its age): a chain that stopped
 *    refreshing fails closed instead of silently missing an AMD rotation.
 */
import { GetObjectCommand, type GetObjectCommandOutput, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { awsCall } from '../shared/aws-errors.ts';
import { AidopsError, NotFoundError, TransientError } from '../shared/errors.ts';
import {
  AMD_PRODUCTS,
  CHAIN_KINDS,
  type ChainKind,
  certChainUrl,
  httpFetcher,
  hwidOf,
  KdsError,
  type KdsFetcher,
  kdsGet,
  vcekUrl,
} from './kds-client.ts';
import { type VerifiedAmdChain, verifyKdsChain, verifyKdsVcek } from './kds-verify.ts';
import { decodeTcb, type SnpProduct, type Tcb } from './snp.ts';
import type { ParsedCert } from './x509.ts';

/** S3 object metadata key holding the ISO time the object was fetched from KDS. */
export const FETCHED_AT_META = 'fetched-at';
/** The cache refreshes daily; three missed refreshes in a row are an incident, not a blip. */
export const DEFAULT_CHAIN_MAX_AGE_MS = 72 * 3600 * 1000;

/** The cached AMD chain is older than allowed: the refresh job has been failing. */
export class AmdCertsStaleError extends AidopsError {
  override name = 'AmdCertsStaleError' as const;
}

export interface AmdCacheLocation {
  readonly bucket: string;
  /** @default 'amd/' */
  readonly prefix?: string;
}
const prefixOf = (l: AmdCacheLocation) => l.prefix ?? 'amd/';

export function chainKey(loc: AmdCacheLocation, product: SnpProduct, kind: ChainKind): string {
  return `${prefixOf(loc)}chains/${product}/${kind}/cert_chain.pem`;
}
export function vcekKey(loc: AmdCacheLocation, product: SnpProduct, chipId: Uint8Array, tcbRaw: string): string {
  return `${prefixOf(loc)}vcek/${product}/${Buffer.from(hwidOf(product, chipId)).toString('hex')}/${tcbRaw}.der`;
}

async function getObject(s3: S3Client, bucket: string, key: string): Promise<GetObjectCommandOutput | undefined> {
  try {
    return await awsCall('s3:GetObject', () => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
  } catch (e) {
    if ((e as { name?: string }).name === 'NoSuchKey') return undefined;
    throw e;
  }
}

export interface RefreshedChain {
  readonly product: SnpProduct;
  readonly kind: ChainKind;
  readonly key: string;
  readonly arkSha256: string;
  readonly intermediateSha256: string;
}
export interface RefreshFailure {
  readonly product: SnpProduct;
  readonly kind: ChainKind;
  readonly url: string;
  readonly error: string;
  readonly reason: string;
}
export interface RefreshResult {
  readonly bucket: string;
  readonly fetchedAt: string;
  readonly cached: readonly RefreshedChain[];
}

/**
 * Scheduled job core: fetch, verify and cache the VCEK and VLEK chains of every product.
 * Each chain is written only after it verifies, so a bad answer leaves the previous good
 * object in place. A 429 stops the run at once (TransientError); otherwise every chain is
 * tried, and any failure is thrown after the good ones are cached (KdsError if any answer
 * was wrong, else TransientError), so the schedule's error metric shows it.
 */
export async function refreshAmdChains(
  s3: S3Client,
  loc: AmdCacheLocation,
  fetcher: KdsFetcher = httpFetcher(),
  now: Date = new Date(),
): Promise<RefreshResult> {
  const cached: RefreshedChain[] = [];
  const failures: (RefreshFailure & { err: AidopsError })[] = [];
  for (const product of AMD_PRODUCTS)
    for (const kind of CHAIN_KINDS) {
      const url = certChainUrl(product, kind);
      let chain: VerifiedAmdChain;
      try {
        chain = verifyKdsChain(await kdsGet(fetcher, url), product, kind, now);
      } catch (e) {
        if (e instanceof TransientError && e.details.reason === 'RATE_LIMITED')
          throw new TransientError(`${e.message} (${cached.length} chain(s) cached before it)`, {
            ...e.details,
            cached: cached.map((c) => c.key),
          });
        if (!(e instanceof AidopsError)) throw e;
        failures.push({
          product,
          kind,
          url,
          error: e.message,
          reason: String(e.details.reason ?? e.name),
          err: e,
        });
        continue;
      }
      const key = chainKey(loc, product, kind);
      await awsCall('s3:PutObject', () =>
        s3.send(
          new PutObjectCommand({
            Bucket: loc.bucket,
            Key: key,
            Body: chain.pem,
            ContentType: 'application/x-pem-file',
            Metadata: {
              [FETCHED_AT_META]: now.toISOString(),
              'source-url': url,
              'ark-sha256': chain.ark.fingerprint,
              'intermediate-sha256': chain.intermediate.fingerprint,
            },
          }),
        ),
      );
      cached.push({
        product,
        kind,
        key,
        arkSha256: chain.ark.fingerprint,
        intermediateSha256: chain.intermediate.fingerprint,
      });
    }
  if (failures.length > 0) {
    const first = failures.find((f) => f.err instanceof KdsError) ?? failures[0]!;
    const details = {
      reason: first.reason,
      failures: failures.map(({ err: _e, ...f }) => f),
      cached: cached.map((c) => c.key),
    };
    const summary = `${failures.length} of ${AMD_PRODUCTS.length * CHAIN_KINDS.length} AMD chains not refreshed; first: ${first.error}`;
    if (first.err instanceof KdsError) throw new KdsError(first.err.reason, summary, details);
    throw new TransientError(summary, details);
  }
  return { bucket: loc.bucket, fetchedAt: now.toISOString(), cached };
}

export interface LoadedAmdChain {
  readonly product: SnpProduct;
  readonly kind: ChainKind;
  /** PEM bundle [ASK or ASVK, ARK]: what `verifySnpReport` takes as `chain`. */
  readonly pem: Uint8Array;
  readonly intermediate: ParsedCert;
  readonly fetchedAt: Date;
  readonly ageMs: number;
  readonly key: string;
}

function fetchedAtOf(obj: GetObjectCommandOutput): Date {
  const meta = obj.Metadata?.[FETCHED_AT_META];
  return meta && !Number.isNaN(Date.parse(meta)) ? new Date(meta) : (obj.LastModified ?? new Date(0));
}

/** Loads a cached chain, or throws NotFoundError / AmdCertsStaleError / KdsError (a cached chain that no longer verifies). */
export async function loadAmdChain(
  s3: S3Client,
  loc: AmdCacheLocation,
  opts: { product: SnpProduct; kind: ChainKind; maxAgeMs?: number; now?: Date },
): Promise<LoadedAmdChain> {
  const now = opts.now ?? new Date();
  const maxAgeMs = opts.maxAgeMs ?? DEFAULT_CHAIN_MAX_AGE_MS;
  const key = chainKey(loc, opts.product, opts.kind);
  const where = `s3://${loc.bucket}/${key}`;
  const obj = await getObject(s3, loc.bucket, key);
  if (!obj)
    throw new NotFoundError(
      `no cached AMD ${opts.kind.toUpperCase()} chain for ${opts.product} at ${where}; run the AMD certificate refresh job`,
      { bucket: loc.bucket, key, product: opts.product, kind: opts.kind },
    );
  // Read the (few KiB) body first: an unread stream would pin the connection when we throw.
  const body = (await obj.Body?.transformToByteArray()) ?? new Uint8Array();
  const fetchedAt = fetchedAtOf(obj);
  const ageMs = Math.max(0, now.getTime() - fetchedAt.getTime());
  if (ageMs > maxAgeMs)
    throw new AmdCertsStaleError(
      `the cached AMD ${opts.kind.toUpperCase()} chain for ${opts.product} at ${where} was fetched ${fetchedAt.toISOString()}, ` +
        `${(ageMs / 3600_000).toFixed(1)} h ago (max ${(maxAgeMs / 3600_000).toFixed(1)} h); the AMD certificate refresh job is failing`,
      { bucket: loc.bucket, key, fetchedAt: fetchedAt.toISOString(), ageMs, maxAgeMs },
    );
  // The verifier re-checks the pin anyway; checking here names the object if the cache was tampered with.
  const chain = verifyKdsChain(body, opts.product, opts.kind, now);
  return {
    product: opts.product,
    kind: opts.kind,
    pem: Buffer.from(chain.pem),
    intermediate: chain.intermediate,
    fetchedAt,
    ageMs,
    key,
  };
}

export interface FetchVcekRequest {
  readonly product: SnpProduct;
  /** The report's chip_id (64 bytes). */
  readonly chipId: Uint8Array;
  /** The report's reported_tcb, raw 8 bytes (little-endian as in the report). */
  readonly reportedTcb: Uint8Array;
  /** @default new Date() */
  readonly now?: Date;
  /** Max age of the cached ASK used to check the answer. @default DEFAULT_CHAIN_MAX_AGE_MS */
  readonly maxAgeMs?: number;
}
export interface FetchedVcek {
  readonly der: Uint8Array;
  readonly key: string;
  readonly url: string;
  /** true when served from the S3 cache without asking KDS. */
  readonly fromCache: boolean;
}

function tcbOf(product: SnpProduct, reportedTcb: Uint8Array): Tcb {
  if (reportedTcb.length !== 8)
    throw new KdsError('INVALID_REQUEST', `reported_tcb must be 8 bytes, got ${reportedTcb.length}.`);
  return decodeTcb(reportedTcb, 0, product);
}

/** The VCEK for (chip, TCB): from the cache, else from KDS (verified, then cached). `fetcher` undefined = cache only. */
export async function fetchVcek(
  s3: S3Client,
  loc: AmdCacheLocation,
  fetcher: KdsFetcher | undefined,
  req: FetchVcekRequest,
): Promise<FetchedVcek> {
  const tcb = tcbOf(req.product, req.reportedTcb);
  const url = vcekUrl(req.product, req.chipId, tcb);
  const key = vcekKey(loc, req.product, req.chipId, tcb.raw);
  const hit = await getObject(s3, loc.bucket, key);
  if (hit) {
    const der = (await hit.Body?.transformToByteArray()) ?? new Uint8Array();
    return { der, key, url, fromCache: true };
  }
  if (!fetcher)
    throw new NotFoundError(`no cached VCEK at s3://${loc.bucket}/${key} and KDS fetching is off (${url})`, {
      bucket: loc.bucket,
      key,
      url,
    });
  const now = req.now ?? new Date();
  const chain = await loadAmdChain(s3, loc, {
    product: req.product,
    kind: 'vcek',
    now,
    ...(req.maxAgeMs !== undefined ? { maxAgeMs: req.maxAgeMs } : {}),
  });
  const body = await kdsGet(fetcher, url);
  const leaf = verifyKdsVcek(body, { product: req.product, chipId: req.chipId, tcb, ask: chain.intermediate, url });
  await awsCall('s3:PutObject', () =>
    s3.send(
      new PutObjectCommand({
        Bucket: loc.bucket,
        Key: key,
        Body: leaf.der,
        ContentType: 'application/pkix-cert',
        Metadata: { [FETCHED_AT_META]: now.toISOString(), 'source-url': url, 'vcek-sha256': leaf.fingerprint },
      }),
    ),
  );
  return { der: leaf.der, key, url, fromCache: false };
}
