/**
 * AMD Key Distribution Service (KDS) client and the deployment's certificate cache in S3.
 *
 * Only the ARK fingerprints are pinned in code (`AMD_ARK_SHA256` in snp.ts). Everything
 * else comes from KDS and is verified BEFORE it is cached:
 *  - `refreshAmdChains` (daily) fetches `/{vcek|vlek}/v1/{Product}/cert_chain` for Milan,
 *    Genoa and Turin. Each answer must be exactly [ASK or ASVK, ARK] in PEM, the ARK must be
 *    the pinned one for that product and self-signed, and the intermediate must be a CA of
 *    the right name signed by that ARK with RSASSA-PSS. Only then is it written to S3 with its
 *    fetch time, so a hostile or broken KDS answer never replaces a good cached chain.
 *  - `fetchVcek` builds the per-chip VCEK URL from `chip_id` and `reported_tcb`, checks the
 *    answer is a VCEK for that chip and TCB signed by the cached ASK, and caches the DER by
 *    (product, chip, TCB). A VCEK never changes for a (chip, TCB), so its cache entry does not
 *    go stale; its validity is checked by the verifier at verification time.
 *  - `loadAmdChain` reads a cached chain and refuses one older than `maxAgeMs`
 *    (AmdCertsStaleError naming the object and its age): a chain that stopped refreshing fails
 *    closed instead of silently missing an AMD rotation.
 *
 * Every failure is typed: KdsError (with a `reason`) for answers that are wrong, TransientError
 * (details.reason RATE_LIMITED / KDS_UNAVAILABLE / KDS_UNREACHABLE) for 429, 5xx and network
 * failures, NotFoundError and AmdCertsStaleError for the cache.
 */
import { GetObjectCommand, type GetObjectCommandOutput, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { awsCall } from '../shared/aws-errors.ts';
import { AidopsError, NotFoundError, TransientError } from '../shared/errors.ts';
import { AttestationError, reject } from './reasons.ts';
import { AMD_ARK_SHA256, certExtensions, checkSnpStructure, decodeTcb, type SnpProduct, type Tcb } from './snp.ts';
import { certsFromPemOrDer, issuedBy, type ParsedCert, parseDer } from './x509.ts';

export const KDS_BASE_URL = 'https://kdsintf.amd.com';
export const AMD_PRODUCTS = Object.keys(AMD_ARK_SHA256) as SnpProduct[];
export type ChainKind = 'vcek' | 'vlek';
export const CHAIN_KINDS: readonly ChainKind[] = ['vcek', 'vlek'];

/** S3 object metadata key holding the ISO time the object was fetched from KDS. */
export const FETCHED_AT_META = 'fetched-at';
/** The cache refreshes daily; three missed refreshes in a row are an incident, not a blip. */
export const DEFAULT_CHAIN_MAX_AGE_MS = 72 * 3600 * 1000;
/** KDS answers are a few KiB; anything much larger is not a certificate. */
const MAX_BODY_BYTES = 64 * 1024;

// ---------------------------------------------------------------- errors

export const KDS_REASONS = {
  HTTP_ERROR: 'AMD KDS answered with an HTTP error.',
  NOT_FOUND: 'AMD KDS has no certificate for this request (HTTP 404).',
  NOT_A_CERTIFICATE: 'The AMD KDS answer is not the certificate(s) expected.',
  UNPINNED_ARK: 'The AMD KDS chain does not end in the pinned AMD Root Key for the product.',
  CHAIN_INVALID: 'The AMD KDS chain does not verify (names, CA flag, RSA-PSS signature or validity).',
  WRONG_CERTIFICATE: 'The AMD KDS certificate is not the one requested (kind, chip or TCB).',
  INVALID_REQUEST: 'The request cannot be sent to AMD KDS.',
} as const;
export type KdsReason = keyof typeof KDS_REASONS;

/** A KDS answer (or a cached copy of one) that is wrong: never retried, never cached. */
export class KdsError extends AidopsError {
  override name = 'KdsError' as const;
  readonly reason: KdsReason;
  constructor(reason: KdsReason, detail: string, details: Record<string, unknown> = {}) {
    super(`${KDS_REASONS[reason]} ${detail}`, { ...details, reason });
    this.reason = reason;
  }
}

/** The cached AMD chain is older than allowed: the refresh job has been failing. */
export class AmdCertsStaleError extends AidopsError {
  override name = 'AmdCertsStaleError' as const;
}

// ---------------------------------------------------------------- fetcher

export interface KdsResponse {
  readonly status: number;
  readonly body: Uint8Array;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
}
/** One GET; injectable so tests serve real KDS bytes without a network. */
export type KdsFetcher = (url: string) => Promise<KdsResponse>;

/** The real fetcher: global fetch with a timeout; network failures become TransientError. */
export function httpFetcher(opts: { timeoutMs?: number; fetchImpl?: typeof fetch } = {}): KdsFetcher {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const f = opts.fetchImpl ?? globalThis.fetch;
  return async (url) => {
    let res: Response;
    try {
      res = await f(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    } catch (e) {
      const timeout = (e as Error)?.name === 'TimeoutError';
      throw new TransientError(
        `AMD KDS ${timeout ? `did not answer within ${timeoutMs} ms` : `is unreachable (${(e as Error)?.message})`}: ${url}`,
        { reason: 'KDS_UNREACHABLE', url },
      );
    }
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      headers[k.toLowerCase()] = v;
    });
    const declared = Number(headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      await res.body?.cancel();
      return { status: res.status, body: new Uint8Array(MAX_BODY_BYTES + 1), headers };
    }
    return { status: res.status, body: new Uint8Array(await res.arrayBuffer()), headers };
  };
}

async function kdsGet(fetcher: KdsFetcher, url: string): Promise<Uint8Array> {
  let res: KdsResponse;
  try {
    res = await fetcher(url);
  } catch (e) {
    if (e instanceof AidopsError) throw e;
    throw new TransientError(`AMD KDS is unreachable (${(e as Error)?.message ?? String(e)}): ${url}`, {
      reason: 'KDS_UNREACHABLE',
      url,
    });
  }
  if (res.status === 429) {
    const retryAfter = res.headers['retry-after'];
    throw new TransientError(
      `AMD KDS rate-limited the request (HTTP 429${retryAfter ? `, retry after ${retryAfter}` : ''}): ${url}`,
      { reason: 'RATE_LIMITED', url, ...(retryAfter ? { retryAfter } : {}) },
    );
  }
  if (res.status >= 500)
    throw new TransientError(`AMD KDS answered HTTP ${res.status}: ${url}`, {
      reason: 'KDS_UNAVAILABLE',
      url,
      status: res.status,
    });
  if (res.status === 404) throw new KdsError('NOT_FOUND', url, { url, status: 404 });
  if (res.status !== 200) throw new KdsError('HTTP_ERROR', `HTTP ${res.status}: ${url}`, { url, status: res.status });
  if (!(res.body instanceof Uint8Array) || res.body.length === 0 || res.body.length > MAX_BODY_BYTES)
    throw new KdsError('NOT_A_CERTIFICATE', `the body is ${res.body?.length ?? 0} bytes: ${url}`, { url });
  return res.body;
}

// ---------------------------------------------------------------- URLs

export function certChainUrl(product: SnpProduct, kind: ChainKind): string {
  return `${KDS_BASE_URL}/${kind}/v1/${product}/cert_chain`;
}

/**
 * `/vcek/v1/{product}/{hwid}?blSPL=&teeSPL=&snpSPL=&ucodeSPL=`; Turin uses the first 8 bytes
 * of chip_id as hwid and adds fmcSPL (AMD KDS spec 57230; as go-sev-guest's kds package).
 */
export function vcekUrl(product: SnpProduct, chipId: Uint8Array, tcb: Tcb): string {
  const hwid = Buffer.from(hwidOf(product, chipId)).toString('hex');
  const spl = `blSPL=${tcb.bootloader}&teeSPL=${tcb.tee}&snpSPL=${tcb.snp}&ucodeSPL=${tcb.microcode}`;
  const q = product === 'Turin' ? `fmcSPL=${tcb.fmc ?? 0}&${spl}` : spl;
  return `${KDS_BASE_URL}/vcek/v1/${product}/${hwid}?${q}`;
}

function hwidOf(product: SnpProduct, chipId: Uint8Array): Uint8Array {
  if (chipId.length !== 64)
    throw new KdsError('INVALID_REQUEST', `chip_id must be 64 bytes, got ${chipId.length}.`, {
      chipIdBytes: chipId.length,
    });
  if (chipId.every((b) => b === 0))
    throw new KdsError('INVALID_REQUEST', 'chip_id is all zero (a VLEK-signed or MASK_CHIP_ID report).');
  return product === 'Turin' ? chipId.subarray(0, 8) : chipId;
}

// ---------------------------------------------------------------- verification before caching

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[A-Za-z0-9+/=\s]*?-----END \1-----/g;

function toPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function cn(subject: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1] ?? '';
}

/** Runs an x509 helper, turning its AttestationError into a KdsError. */
function asKds<T>(fn: () => T, reason: KdsReason, where: string): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof AttestationError) throw new KdsError(reason, `${where}: ${e.message}`, { where });
    throw new KdsError(reason, `${where}: ${(e as Error)?.message ?? String(e)}`, { where });
  }
}

export interface VerifiedAmdChain {
  readonly product: SnpProduct;
  readonly kind: ChainKind;
  /** ASK (vcek) or ASVK (vlek). */
  readonly intermediate: ParsedCert;
  readonly ark: ParsedCert;
  /** Canonical PEM bundle [intermediate, ARK], as cached. */
  readonly pem: string;
}

/**
 * Verifies a KDS `cert_chain` body (PEM: ASK or ASVK, then ARK) for `product`:
 * pinned, self-signed ARK; intermediate a CA named SEV-{product} / SEV-VLEK-{product},
 * signed by the ARK with RSASSA-PSS; both valid at `now`.
 */
export function verifyKdsChain(body: Uint8Array, product: SnpProduct, kind: ChainKind, now: Date): VerifiedAmdChain {
  const where = `${kind} cert_chain for ${product}`;
  const text = Buffer.from(body).toString('latin1');
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length !== 2 || blocks.some((m) => m[1] !== 'CERTIFICATE') || text.replace(PEM_BLOCK, '').trim() !== '')
    throw new KdsError('NOT_A_CERTIFICATE', `the ${where} must be exactly two PEM CERTIFICATE blocks.`, {
      product,
      kind,
    });
  const ders = asKds(() => certsFromPemOrDer(body, where), 'NOT_A_CERTIFICATE', where);
  const [interDer, arkDer] = ders as [Uint8Array, Uint8Array];
  const inter = asKds(() => parseDer(interDer, `the ${kind === 'vcek' ? 'ASK' : 'ASVK'}`), 'NOT_A_CERTIFICATE', where);
  const ark = asKds(() => parseDer(arkDer, 'the ARK'), 'NOT_A_CERTIFICATE', where);
  const pinned = AMD_ARK_SHA256[product];
  if (ark.fingerprint !== pinned) {
    const other = AMD_PRODUCTS.find((p) => AMD_ARK_SHA256[p] === ark.fingerprint);
    throw new KdsError(
      'UNPINNED_ARK',
      `the ${where} ends in ${other ? `the ${other} ARK` : `an unknown root`} (sha256 ${ark.fingerprint}), ` +
        `not ARK-${product} (${pinned}).`,
      { product, kind, arkSha256: ark.fingerprint },
    );
  }
  const wantCn = kind === 'vcek' ? `SEV-${product}` : `SEV-VLEK-${product}`;
  const fail = (detail: string): never => {
    throw new KdsError('CHAIN_INVALID', `${where}: ${detail}`, { product, kind });
  };
  if (!issuedBy(ark, ark)) fail('the ARK is not self-signed.');
  if (cn(inter.x509.subject) !== wantCn) fail(`the intermediate is "${cn(inter.x509.subject)}", not ${wantCn}.`);
  if (!inter.x509.ca) fail(`${wantCn} is not a CA certificate.`);
  for (const c of [inter, ark])
    if (c.x509.signatureAlgorithm !== 'rsassaPss')
      fail(
        `${cn(c.x509.subject)} is signed with ${c.x509.signatureAlgorithm ?? 'an unknown algorithm'}, not RSASSA-PSS.`,
      );
  if (!issuedBy(inter, ark)) fail(`${wantCn} is not signed by ARK-${product}.`);
  const t = now.getTime();
  for (const c of [inter, ark])
    if (t < c.notBefore || t > c.notAfter)
      fail(
        `${cn(c.x509.subject)} is valid ${new Date(c.notBefore).toISOString()} → ${new Date(c.notAfter).toISOString()}, not at ${now.toISOString()}.`,
      );
  return { product, kind, intermediate: inter, ark, pem: toPem(inter.der) + toPem(ark.der) };
}

// ---------------------------------------------------------------- S3 cache

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

const OID_HWID = '1.3.6.1.4.1.3704.1.4';
const SPL_OIDS: Record<string, keyof Tcb> = {
  '1.3.6.1.4.1.3704.1.3.1': 'bootloader',
  '1.3.6.1.4.1.3704.1.3.2': 'tee',
  '1.3.6.1.4.1.3704.1.3.3': 'snp',
  '1.3.6.1.4.1.3704.1.3.8': 'microcode',
  '1.3.6.1.4.1.3704.1.3.9': 'fmc',
};

/** The small DER INTEGER in an SPL extension, or undefined. */
function splValue(v: Uint8Array | undefined): number | undefined {
  if (v?.[0] !== 0x02 || v[1] === undefined || v[1] > 2 || v.length !== 2 + v[1]) return undefined;
  let n = 0;
  for (let i = 2; i < v.length; i++) n = n * 256 + (v[i] ?? 0);
  return n;
}

/** Checks a KDS VCEK answer: one DER certificate, CN=SEV-VCEK, this chip and TCB, signed by the ASK. */
export function verifyKdsVcek(
  body: Uint8Array,
  req: { product: SnpProduct; chipId: Uint8Array; tcb: Tcb; ask: ParsedCert; url: string },
): ParsedCert {
  const where = `VCEK from ${req.url}`;
  if (body[0] !== 0x30) throw new KdsError('NOT_A_CERTIFICATE', `the ${where} is not DER.`, { url: req.url });
  const leaf = asKds(() => parseDer(body, 'the VCEK'), 'NOT_A_CERTIFICATE', where);
  const exts = asKds(() => certExtensions(body), 'NOT_A_CERTIFICATE', where);
  const wrong = (detail: string): never => {
    throw new KdsError('WRONG_CERTIFICATE', `${where}: ${detail}`, { url: req.url });
  };
  if (cn(leaf.x509.subject) !== 'SEV-VCEK') wrong(`the subject is "${cn(leaf.x509.subject)}", not SEV-VCEK.`);
  let hw = exts.get(OID_HWID);
  if (hw && hw.length === 2 + (hw[1] ?? 0) && hw[0] === 0x04) hw = hw.subarray(2);
  const want = hwidOf(req.product, req.chipId);
  if (!hw || Buffer.compare(Buffer.from(hw), Buffer.from(want)) !== 0) wrong('its hwID is not this chip_id.');
  const components: (keyof Tcb)[] = ['bootloader', 'tee', 'snp', 'microcode'];
  if (req.product === 'Turin') components.push('fmc');
  for (const [oid, c] of Object.entries(SPL_OIDS)) {
    if (!components.includes(c)) continue;
    const v = splValue(exts.get(oid));
    if (v !== req.tcb[c]) wrong(`${c} SPL is ${String(v)}, the request asked for ${String(req.tcb[c])}.`);
  }
  if (!issuedBy(leaf, req.ask))
    throw new KdsError('CHAIN_INVALID', `the ${where} is not signed by the cached SEV-${req.product} ASK.`, {
      url: req.url,
    });
  return leaf;
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

// ---------------------------------------------------------------- the verifier's source

/** Certificates for SEV-SNP evidence that arrived without them. */
export interface AmdCertSource {
  /**
   * Leaf and chain for `report` (1184 bytes). `leaf` is a leaf the caller already has
   * (e.g. a VLEK in the evidence); then only the chain is looked up. Throws AttestationError
   * CERTS_UNAVAILABLE when the evidence cannot be verified without the guest's help;
   * operational failures (stale or missing cache, KDS down) propagate typed, for retry.
   */
  certsFor(report: Uint8Array, have?: { leaf?: Uint8Array }): Promise<{ leaf: Uint8Array; chain: Uint8Array }>;
}

/**
 * Product candidates for a report: v3+ reports carry CPUID family/model at 0x188
 * (family 19h model 0xh Milan, 1xh Genoa; family 1Ah Turin); v2 reports do not, and
 * predate Turin, so Milan then Genoa are tried.
 */
export function productsOfReport(report: Uint8Array): SnpProduct[] {
  const family = report[0x188] ?? 0;
  const model = report[0x189] ?? 0;
  if (family === 0x19) return [model < 0x10 ? 'Milan' : 'Genoa'];
  if (family === 0x1a) return ['Turin'];
  return ['Milan', 'Genoa'];
}

export interface S3AmdCertSourceOptions {
  readonly s3: S3Client;
  readonly loc: AmdCacheLocation;
  /** Asks KDS for a VCEK missing from the cache. @default undefined (cache only) */
  readonly fetcher?: KdsFetcher;
  /** @default DEFAULT_CHAIN_MAX_AGE_MS */
  readonly maxAgeMs?: number;
  /** The clock for cache staleness (not the evidence's verification time). @default () => new Date() */
  readonly now?: () => Date;
}

/** AmdCertSource over the S3 cache (and KDS for VCEK misses, when a fetcher is given). */
export class S3AmdCertSource implements AmdCertSource {
  readonly #o: S3AmdCertSourceOptions;
  constructor(opts: S3AmdCertSourceOptions) {
    this.#o = opts;
  }

  async certsFor(
    report: Uint8Array,
    have: { leaf?: Uint8Array } = {},
  ): Promise<{ leaf: Uint8Array; chain: Uint8Array }> {
    const { signerKind } = checkSnpStructure(report);
    const kind: ChainKind = signerKind === 'VCEK' ? 'vcek' : 'vlek';
    const now = (this.#o.now ?? (() => new Date()))();
    const maxAgeMs = this.#o.maxAgeMs ?? DEFAULT_CHAIN_MAX_AGE_MS;
    const candidates = productsOfReport(report);
    const chainFor = (product: SnpProduct) => loadAmdChain(this.#o.s3, this.#o.loc, { product, kind, maxAgeMs, now });

    if (have.leaf) {
      // Pick the product whose intermediate issued the supplied leaf; the verifier re-checks everything.
      const leafDer = certsFromPemOrDer(have.leaf, `the ${signerKind}`)[0]!;
      const leaf = parseDer(leafDer, `the ${signerKind}`);
      for (const product of candidates) {
        const chain = await chainFor(product);
        if (issuedBy(leaf, chain.intermediate)) return { leaf: have.leaf, chain: chain.pem };
      }
      return reject(
        'CHAIN_UNTRUSTED',
        `the supplied ${signerKind} is not signed by any cached ${candidates.join('/')} ${kind === 'vcek' ? 'ASK' : 'ASVK'}.`,
      );
    }
    if (signerKind === 'VLEK')
      return reject(
        'CERTS_UNAVAILABLE',
        'the report is VLEK-signed; a VLEK is issued to the cloud provider and cannot be fetched from AMD KDS, ' +
          'so the guest must send it (certs.leaf, or inside the go-sev-guest Attestation protobuf).',
      );
    const chipId = report.subarray(0x1a0, 0x1e0);
    if (chipId.every((b) => b === 0))
      return reject(
        'CERTS_UNAVAILABLE',
        'the VCEK-signed report has an all-zero chip_id, so no VCEK can be looked up.',
      );
    const reportedTcb = report.subarray(0x180, 0x188);
    const misses: string[] = [];
    for (const product of candidates) {
      try {
        const chain = await chainFor(product);
        const vcek = await fetchVcek(this.#o.s3, this.#o.loc, this.#o.fetcher, {
          product,
          chipId,
          reportedTcb,
          now,
          maxAgeMs,
        });
        return { leaf: vcek.der, chain: chain.pem };
      } catch (e) {
        // A miss for this product (cache only, KDS 404, or KDS 400 for a chip_id it does not
        // know) → try the next candidate. The report's fields came from the guest, so these
        // are verdicts, not operational failures.
        const kdsMiss =
          e instanceof KdsError &&
          (e.reason === 'NOT_FOUND' || (e.reason === 'HTTP_ERROR' && e.details.status === 400));
        if ((e instanceof NotFoundError && e.details.url) || kdsMiss) misses.push(String(e.details.url));
        else throw e;
      }
    }
    return reject(
      'CERTS_UNAVAILABLE',
      `no VCEK for this chip_id and reported_tcb in the cache${this.#o.fetcher ? ' or at AMD KDS' : ''} (${misses.join(', ')}).`,
    );
  }
}
