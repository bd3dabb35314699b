/**
 * Where the attestation step gets the certificates of SEV-SNP evidence that
 * arrived without them: the S3 cache (and AMD KDS for a VCEK it lacks).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { NotFoundError } from '../shared/errors.ts';
import { type AmdCacheLocation, DEFAULT_CHAIN_MAX_AGE_MS, fetchVcek, loadAmdChain } from './kds-cache.ts';
import { type ChainKind, KdsError, type KdsFetcher } from './kds-client.ts';
import { reject } from './reasons.ts';
import { checkSnpStructure, type SnpProduct } from './snp.ts';
import { certsFromPemOrDer, issuedBy, parseDer } from './x509.ts';

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
