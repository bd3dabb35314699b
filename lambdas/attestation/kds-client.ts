/**
 * The AMD Key Distribution Service (KDS) client: the URLs AMD documents, one GET
 * with a typed outcome, and the error a wrong answer raises.
 *
 * Every failure is typed: KdsError (with a `reason`) for answers that are wrong,
 * TransientError (details.reason RATE_LIMITED / KDS_UNAVAILABLE / KDS_UNREACHABLE)
 * for 429, 5xx and network failures. Nothing a KDS answer says is trusted here:
 * kds-verify.ts checks it against the pinned ARKs before anything is cached.
 */
import { AidopsError, ReasonCodedError, TransientError } from '../shared/errors.ts';
import { AMD_ARK_SHA256, type SnpProduct, type Tcb } from './snp.ts';

const KDS_BASE_URL = 'https://kdsintf.amd.com';
export const AMD_PRODUCTS = Object.keys(AMD_ARK_SHA256) as SnpProduct[];
export type ChainKind = 'vcek' | 'vlek';
export const CHAIN_KINDS: readonly ChainKind[] = ['vcek', 'vlek'];

/** KDS answers are a few KiB; anything much larger is not a certificate. */
const MAX_BODY_BYTES = 64 * 1024;

// ---------------------------------------------------------------- errors

const KDS_REASONS = {
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
export class KdsError extends ReasonCodedError<KdsReason> {
  override name = 'KdsError' as const;
  constructor(reason: KdsReason, detail: string, details: Record<string, unknown> = {}) {
    super(reason, `${KDS_REASONS[reason]} ${detail}`, details);
  }
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

/** One GET of a KDS resource: the body of a 200, or a typed error. */
export async function kdsGet(fetcher: KdsFetcher, url: string): Promise<Uint8Array> {
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

/** The hardware id KDS names a chip by (Turin: the first 8 bytes of chip_id). */
export function hwidOf(product: SnpProduct, chipId: Uint8Array): Uint8Array {
  if (chipId.length !== 64)
    throw new KdsError('INVALID_REQUEST', `chip_id must be 64 bytes, got ${chipId.length}.`, {
      chipIdBytes: chipId.length,
    });
  if (chipId.every((b) => b === 0))
    throw new KdsError('INVALID_REQUEST', 'chip_id is all zero (a VLEK-signed or MASK_CHIP_ID report).');
  return product === 'Turin' ? chipId.subarray(0, 8) : chipId;
}
