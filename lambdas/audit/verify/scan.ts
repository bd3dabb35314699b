/**
 * Reads every listed version once: objects are hashed while they stream (no
 * buffering), several at a time, so throughput stays close to plain SHA-256
 * (see bench/audit-verifier.ts); digests, which are small, are kept whole.
 */
import { createHash } from 'node:crypto';
import { mapLimit } from '../../shared/concurrency.ts';
import { type ChainListing, inWindow, pushTo, type VerifyWindow } from './listing.ts';
import type { AuditStore, VersionInfo } from './store.ts';

export interface Scanned {
  readonly version: VersionInfo;
  /** Position in the listing (tie-breaker between same-second versions). */
  readonly order: number;
  readonly sha256: string;
  readonly bytes: number;
  /** Newline count: events = lines - 1 for a chain object. */
  readonly lines: number;
  readonly firstLine: string;
  /** Whole content, kept only for digests (small). */
  readonly content?: Buffer;
  readonly lockMode: string | undefined;
  readonly retainUntil: Date | undefined;
  readonly legalHold: boolean;
}

const MAX_FIRST_LINE = 64 * 1024;

async function scan(store: AuditStore, v: VersionInfo, order: number, keep: boolean): Promise<Scanned> {
  const obj = await store.get(v.key, v.versionId);
  const hash = createHash('sha256');
  let bytes = 0;
  let lines = 0;
  const head: Buffer[] = [];
  let headLen = 0;
  let headDone = false;
  const kept: Buffer[] = [];
  for await (const chunk of obj.body) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    hash.update(b);
    bytes += b.length;
    if (keep) kept.push(b);
    let i = b.indexOf(10);
    if (!headDone) {
      const end = i < 0 ? b.length : i;
      if (headLen < MAX_FIRST_LINE) {
        head.push(b.subarray(0, Math.min(end, MAX_FIRST_LINE - headLen)));
        headLen += end;
      }
      if (i >= 0) headDone = true;
    }
    while (i >= 0) {
      lines++;
      i = b.indexOf(10, i + 1);
    }
  }
  return {
    version: v,
    order,
    sha256: hash.digest('hex'),
    bytes,
    lines,
    firstLine: Buffer.concat(head).toString('utf8'),
    content: keep ? Buffer.concat(kept) : undefined,
    lockMode: obj.lockMode,
    retainUntil: obj.retainUntil,
    legalHold: obj.legalHold,
  };
}

/** Every version read, by chain, kind and seq. */
export interface ScanIndex {
  objects(chain: string, seq: number): readonly Scanned[];
  digests(chain: string, digestSeq: number): readonly Scanned[];
  /** Bytes read in all. */
  readonly bytes: number;
}

/** Reads every digest version and every object version in the window, `concurrency` at a time across chains. */
export async function scanAll(
  store: AuditStore,
  chains: ReadonlyMap<string, ChainListing>,
  window: VerifyWindow,
  concurrency: number,
): Promise<ScanIndex> {
  type Job = { chain: string; kind: 'o' | 'd'; seq: number; v: VersionInfo; order: number };
  const jobs: Job[] = [];
  for (const [chain, l] of chains) {
    for (const [seq, vs] of l.digests) {
      vs.forEach((v, order) => {
        jobs.push({ chain, kind: 'd', seq, v, order });
      });
    }
    for (const [seq, vs] of l.objects) {
      vs.forEach((v, order) => {
        if (inWindow(v, window)) jobs.push({ chain, kind: 'o', seq, v, order });
      });
    }
  }
  const scanned = await mapLimit(jobs, concurrency, async (j) => ({
    j,
    s: await scan(store, j.v, j.order, j.kind === 'd'),
  }));
  const byKey = new Map<string, Scanned[]>();
  let bytes = 0;
  for (const { j, s } of scanned) {
    pushTo(byKey, `${j.chain}\u0000${j.kind}\u0000${j.seq}`, s);
    bytes += s.bytes;
  }
  return {
    objects: (chain, seq) => byKey.get(`${chain}\u0000o\u0000${seq}`) ?? [],
    digests: (chain, digestSeq) => byKey.get(`${chain}\u0000d\u0000${digestSeq}`) ?? [],
    bytes,
  };
}

/**
 * The version to check when nothing pins one: the oldest (the writer creates each key
 * once, so later versions are additions). LastModified has 1 s resolution, so ties go
 * to the version whose header fits the position, then to the one listed last (S3 lists
 * a key's versions newest first).
 */
export function original(vs: readonly Scanned[], fits: (s: Scanned) => boolean = () => true): Scanned | undefined {
  return [...vs].sort(
    (a, b) =>
      a.version.lastModified.getTime() - b.version.lastModified.getTime() ||
      Number(fits(b)) - Number(fits(a)) ||
      b.order - a.order,
  )[0];
}
