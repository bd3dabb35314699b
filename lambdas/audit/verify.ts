/**
 * The verifier: reads chain objects and digests (every version, not just the
 * latest) and checks every hash, every chain link, every digest signature and
 * each version's Object Lock mode and retention. It trusts only the public key
 * it is given — not the listing order, not the bucket, not the head store.
 *
 * One module per step (./verify/): listing, scan, digest chain, object chain,
 * lock, findings; this one composes them, chain by chain.
 */
import { normalizePrefix } from './chain.ts';
import { checkDigestChain, checkDigestLag } from './verify/digest-chain.ts';
import { ChainFindings, type Finding } from './verify/findings.ts';
import { listAudit } from './verify/listing.ts';
import type { VerifyPolicy } from './verify/lock.ts';
import { checkObjectChain } from './verify/object-chain.ts';
import { scanAll } from './verify/scan.ts';
import type { AuditStore } from './verify/store.ts';
import type { Trust } from './verify/trust.ts';

export { FINDING_HELP, type Finding, type FindingCode } from './verify/findings.ts';
export type { VerifyPolicy } from './verify/lock.ts';
export { type AuditStore, type FetchedObject, s3AuditStore, type VersionInfo } from './verify/store.ts';
export { type Trust, trustFromKms, trustFromPublicKey } from './verify/trust.ts';

export interface VerifyOptions {
  readonly store: AuditStore;
  /** @default 'audit/' */
  readonly prefix?: string;
  /** Only this chain (a session id, or 'control-plane'). */
  readonly session?: string;
  /** Only objects written in [from, to] (by S3 LastModified; links into the window's first object are not checked). */
  readonly from?: Date;
  readonly to?: Date;
  readonly trust: Trust;
  readonly policy: VerifyPolicy;
  /** Report objects older than this that no valid digest covers. @default not checked */
  readonly maxDigestLagMs?: number;
  /** Objects fetched in parallel. @default 8 */
  readonly concurrency?: number;
  /** @default new Date() */
  readonly now?: Date;
}

export interface ChainReport {
  readonly chain: string;
  readonly objects: number;
  readonly digests: number;
  readonly events: number;
  readonly lastSeq: number;
  /** Highest seq covered by a valid digest (0: none). */
  readonly digestedThroughSeq: number;
  readonly intact: boolean;
  readonly findings: readonly Finding[];
}

export interface VerifyReport {
  readonly intact: boolean;
  readonly chains: readonly ChainReport[];
  readonly findings: readonly Finding[];
  readonly stats: { objects: number; digests: number; events: number; bytes: number; ms: number };
}

export async function verifyAudit(opts: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now();
  const now = opts.now ?? new Date();
  const prefix = normalizePrefix(opts.prefix ?? 'audit/');
  const window = { from: opts.from, to: opts.to };
  const windowed = Boolean(opts.from || opts.to);
  const listing = await listAudit(opts.store, prefix, opts.session);
  const scans = await scanAll(opts.store, listing.chains, window, opts.concurrency ?? 8);

  const findings: Finding[] = [...listing.foreign];
  const chains: ChainReport[] = [];
  for (const chain of [...listing.chains.keys()].sort()) {
    const l = listing.chains.get(chain)!;
    const check = { chain, prefix, scans, trust: opts.trust, policy: opts.policy, findings: new ChainFindings(chain) };
    const digests = checkDigestChain(check, l);
    const objects = checkObjectChain(check, l, digests.pins, window);
    if (opts.maxDigestLagMs !== undefined && !windowed) {
      checkDigestLag(check, objects.checked, digests.digestedThroughSeq, now, opts.maxDigestLagMs);
    }
    const cf = check.findings.sorted();
    findings.push(...cf);
    chains.push({
      chain,
      objects: objects.objects,
      digests: digests.digests,
      events: objects.events,
      lastSeq: objects.lastSeq,
      digestedThroughSeq: digests.digestedThroughSeq,
      intact: cf.length === 0,
      findings: cf,
    });
  }

  const stats = {
    objects: chains.reduce((a, r) => a + r.objects, 0),
    digests: chains.reduce((a, r) => a + r.digests, 0),
    events: chains.reduce((a, r) => a + r.events, 0),
    bytes: scans.bytes,
    ms: Math.round(performance.now() - started),
  };
  return { intact: findings.length === 0, chains, findings, stats };
}
