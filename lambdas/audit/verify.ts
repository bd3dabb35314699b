/**
 * The verifier: reads chain objects and digests (every version, not just the
 * latest) and checks every hash, every chain link, every digest signature and
 * each version's Object Lock mode and retention. It trusts the public key it is
 * given for digests, and the head table (read-only) for where each chain ends
 * and which chains exist — never the listing order, never the bucket's word:
 * an object the writer did not write is named as forged or foreign, a chain
 * nobody knows is CHAIN_UNKNOWN, and every time comes from S3, not from headers.
 *
 * One module per step (./verify/): listing, scan, digest chain, object chain,
 * lock, findings; this one composes them, chain by chain.
 */
import { normalizePrefix } from './chain.ts';
import type { ChainState, HeadReader } from './heads.ts';
import { checkDigestChain, checkDigestLag } from './verify/digest-chain.ts';
import { ChainFindings, type Finding } from './verify/findings.ts';
import { type ChainListing, listAudit } from './verify/listing.ts';
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
  /**
   * The chain-head table (read-only): pins each chain's newest object and says
   * which chains exist. Without it (offline) an undigested tail cannot be told
   * from a forged one, and unknown chains are not reported.
   */
  readonly heads?: HeadReader;
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
  /** The head table knows the chain (false when verified without one). */
  readonly anchored: boolean;
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
  const states = opts.heads ? await readHeads(opts.heads, opts.session) : null;
  const scans = await scanAll(opts.store, listing.chains, window, opts.concurrency ?? 8);

  const findings: Finding[] = [...listing.foreign];
  const chains: ChainReport[] = [];
  // Chains the head table knows but the bucket has nothing of are checked too: their objects are missing.
  const names = new Set([...listing.chains.keys(), ...(states?.keys() ?? [])]);
  for (const chain of [...names].sort()) {
    const l = listing.chains.get(chain) ?? EMPTY_LISTING;
    const state = states ? (states.get(chain) ?? absent(chain)) : undefined;
    const check = { chain, prefix, scans, trust: opts.trust, policy: opts.policy, findings: new ChainFindings(chain) };
    const digests = checkDigestChain(check, l, state?.digest);
    let objects = { objects: 0, events: 0, lastSeq: 0, checked: new Map() } as ReturnType<typeof checkObjectChain>;
    if (state && !state.exists && digests.valid === 0) {
      // Nobody wrote this chain: its objects are not checked one by one, the chain as a whole is the finding.
      const count = [...l.objects.values()].reduce((a, vs) => a + vs.length, 0);
      check.findings.add({
        code: 'CHAIN_UNKNOWN',
        message: `chain ${chain} (${count} object version(s)) is in neither the head table nor a valid digest: no session wrote it`,
      });
    } else {
      objects = checkObjectChain(check, l, digests.pins, window, state);
      if (opts.maxDigestLagMs !== undefined && !windowed) {
        checkDigestLag(check, objects.checked, digests.digestedThroughSeq, now, opts.maxDigestLagMs);
      }
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
      anchored: Boolean(state?.exists),
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

const EMPTY_LISTING: ChainListing = {
  objects: new Map(),
  objectMarkers: new Map(),
  digests: new Map(),
  digestMarkers: new Map(),
};

const absent = (chain: string): ChainState => ({
  chain,
  exists: false,
  head: null,
  skipped: [],
  claim: null,
  rev: 0,
  digest: null,
});

/** The head table's items: one chain's, or every chain's. */
async function readHeads(heads: HeadReader, session: string | undefined): Promise<Map<string, ChainState>> {
  const out = new Map<string, ChainState>();
  if (session) {
    const s = await heads.get(session);
    if (s.exists) out.set(session, s);
  } else {
    for await (const s of heads.list()) out.set(s.chain, s);
  }
  return out;
}
