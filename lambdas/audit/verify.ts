/**
 * The verifier: reads chain objects and digests (every version, not just the
 * latest) and checks every hash, every chain link, every digest signature and
 * each version's Object Lock mode and retention. It trusts only the public key
 * it is given — not the listing order, not the bucket, not the head store.
 *
 * Objects are hashed while they stream (no buffering), several at a time, so
 * throughput stays close to plain SHA-256 (see bench/audit-verifier.ts).
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { mapLimit } from '../shared/concurrency.ts';
import { AidopsError } from '../shared/errors.ts';
import {
  type ChainHeader,
  chainObjectKey,
  digestObjectKey,
  normalizePrefix,
  parseAuditKey,
  parseChainHeader,
} from './chain.ts';
import { type DigestBody, type ParsedDigest, parseDigest, publicKeySha256, signingMessage } from './digest.ts';
import type { LockMode } from './retention-guard.ts';

export const FINDING_CODES = [
  'OBJECT_MODIFIED',
  'OBJECT_MISSING',
  'OUT_OF_ORDER',
  'EXTRA_VERSION',
  'DELETE_MARKER',
  'DIGEST_MISSING',
  'DIGEST_FORGED',
  'DIGEST_WRONG_KEY',
  'RETENTION_TOO_SHORT',
  'NOT_LOCKED',
  'LOCK_MODE_WEAK',
  'FOREIGN_OBJECT',
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

/** What each finding means; printed by `aidops audit verify --help` and in docs/audit.md. */
export const FINDING_HELP: Record<FindingCode, string> = {
  OBJECT_MODIFIED:
    'bytes differ from the SHA-256 a digest or the next object recorded, or the pinned version was replaced',
  OBJECT_MISSING: 'an object a digest or the chain refers to (or a gap in seq) no longer exists',
  OUT_OF_ORDER: 'an object sits at the wrong position: header seq/chain/prev link do not match its key',
  EXTRA_VERSION: 'a key has versions the writer never wrote (the writer creates each key once)',
  DELETE_MARKER: 'a delete marker hides an object (the locked version is still there)',
  DIGEST_MISSING: 'a digest is gone (gap in digest seq), or objects older than the allowed lag are in no digest',
  DIGEST_FORGED: 'a digest signature does not verify under the trusted key, or a digest was replaced',
  DIGEST_WRONG_KEY: 'a digest was signed by a key other than the trusted one',
  RETENTION_TOO_SHORT: 'a version is retained for less than the policy (retain-until < written + days)',
  NOT_LOCKED: 'a version has no Object Lock retention',
  LOCK_MODE_WEAK: 'a version is locked in GOVERNANCE mode (bypassable) where policy requires COMPLIANCE',
  FOREIGN_OBJECT: 'an object under the audit prefix that is neither a chain object nor a digest',
};

export interface Finding {
  readonly code: FindingCode;
  readonly chain: string;
  readonly message: string;
  readonly key?: string;
  readonly versionId?: string;
  readonly seq?: number;
  readonly digestSeq?: number;
  readonly expected?: string;
  readonly actual?: string;
}

// ---------------------------------------------------------------------------
// Storage access (an interface so the benchmark can measure the verifier alone)

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

export function s3AuditStore(s3: S3Client, bucket: string): AuditStore {
  return {
    async *listVersions(prefix) {
      let keyMarker: string | undefined;
      let versionMarker: string | undefined;
      for (;;) {
        const out = await s3.send(
          new ListObjectVersionsCommand({
            Bucket: bucket,
            Prefix: prefix,
            KeyMarker: keyMarker,
            VersionIdMarker: versionMarker,
          }),
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
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
      return {
        lockMode: out.ObjectLockMode,
        retainUntil: out.ObjectLockRetainUntilDate,
        legalHold: out.ObjectLockLegalHoldStatus === 'ON',
        body: out.Body as unknown as AsyncIterable<Uint8Array>,
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Trust anchor

export interface Trust {
  readonly publicKey: KeyObject;
  /** SHA-256 of the DER SPKI: digests carry the signer's, so "wrong key" is told apart from "forged". */
  readonly publicKeySha256: string;
  /** The key id/ARN, when known (from KMS). */
  readonly keyId?: string;
}

export function trustFromPublicKey(pemOrDer: string | Buffer, keyId?: string): Trust {
  const isPem = typeof pemOrDer === 'string' || pemOrDer.subarray(0, 11).toString() === '-----BEGIN ';
  const publicKey = isPem
    ? createPublicKey(typeof pemOrDer === 'string' ? pemOrDer : pemOrDer.toString('utf8'))
    : createPublicKey({ key: pemOrDer, format: 'der', type: 'spki' });
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return { publicKey, publicKeySha256: publicKeySha256(der), keyId };
}

/** Fetches the public key once; signatures are then checked locally (no KMS call per digest). */
export async function trustFromKms(kms: KMSClient, keyId: string): Promise<Trust> {
  const out = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  if (!out.PublicKey) throw new AidopsError('KMS returned no public key', { keyId });
  return trustFromPublicKey(Buffer.from(out.PublicKey), out.KeyId ?? keyId);
}

// ---------------------------------------------------------------------------
// Streaming object scan

interface Scanned {
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

// ---------------------------------------------------------------------------
// Verification

export interface VerifyPolicy {
  /** Minimum retention a version must have from its write time. */
  readonly retentionDays: number;
  /** @default 'COMPLIANCE' */
  readonly mode?: LockMode;
  /** Slack for clock skew between writer and S3. @default 300 */
  readonly toleranceSeconds?: number;
}

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

interface ChainListing {
  readonly objects: Map<number, VersionInfo[]>;
  readonly objectMarkers: Map<number, VersionInfo[]>;
  readonly digests: Map<number, VersionInfo[]>;
  readonly digestMarkers: Map<number, VersionInfo[]>;
}

const push = <K, V>(m: Map<K, V[]>, k: K, v: V) => {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
};

/**
 * The version to check when nothing pins one: the oldest (the writer creates each key
 * once, so later versions are additions). LastModified has 1 s resolution, so ties go
 * to the version whose header fits the position, then to the one listed last (S3 lists
 * a key's versions newest first).
 */
function original(vs: readonly Scanned[], fits: (s: Scanned) => boolean = () => true): Scanned | undefined {
  return [...vs].sort(
    (a, b) =>
      a.version.lastModified.getTime() - b.version.lastModified.getTime() ||
      Number(fits(b)) - Number(fits(a)) ||
      b.order - a.order,
  )[0];
}

export async function verifyAudit(opts: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now();
  const prefix = normalizePrefix(opts.prefix ?? 'audit/');
  const now = opts.now ?? new Date();
  const policyMode = opts.policy.mode ?? 'COMPLIANCE';
  const tolMs = (opts.policy.toleranceSeconds ?? 300) * 1000;
  const concurrency = opts.concurrency ?? 8;
  const findings: Finding[] = [];

  // 1. Listing: every version and delete marker, grouped by chain and seq.
  const chains = new Map<string, ChainListing>();
  const chainOf = (c: string): ChainListing => {
    let l = chains.get(c);
    if (!l) {
      l = { objects: new Map(), objectMarkers: new Map(), digests: new Map(), digestMarkers: new Map() };
      chains.set(c, l);
    }
    return l;
  };
  const sub = opts.session ? `${opts.session}/` : '';
  for (const p of [`${prefix}chains/${sub}`, `${prefix}digests/${sub}`]) {
    for await (const v of opts.store.listVersions(p)) {
      const parsed = parseAuditKey(prefix, v.key);
      if (!parsed || (opts.session && parsed.chain !== opts.session)) {
        if (!parsed) {
          findings.push({
            code: 'FOREIGN_OBJECT',
            chain: '(bucket)',
            key: v.key,
            versionId: v.versionId,
            message: `object ${v.key} is not part of the audit layout`,
          });
        }
        continue;
      }
      const l = chainOf(parsed.chain);
      if (parsed.type === 'chain') push(v.deleteMarker ? l.objectMarkers : l.objects, parsed.seq, v);
      else push(v.deleteMarker ? l.digestMarkers : l.digests, parsed.seq, v);
    }
  }

  // 2. Scan every version (digests whole, objects streamed), in parallel across chains.
  type Job = { chain: string; kind: 'o' | 'd'; seq: number; v: VersionInfo; order: number };
  const jobs: Job[] = [];
  const inWindow = (v: VersionInfo) =>
    (!opts.from || v.lastModified.getTime() >= opts.from.getTime() - 1000) &&
    (!opts.to || v.lastModified.getTime() <= opts.to.getTime() + 15 * 60_000);
  for (const [chain, l] of chains) {
    for (const [seq, vs] of l.digests) {
      vs.forEach((v, order) => {
        jobs.push({ chain, kind: 'd', seq, v, order });
      });
    }
    for (const [seq, vs] of l.objects) {
      vs.forEach((v, order) => {
        if (inWindow(v)) jobs.push({ chain, kind: 'o', seq, v, order });
      });
    }
  }
  const scanned = await mapLimit(jobs, concurrency, async (j) => ({
    j,
    s: await scan(opts.store, j.v, j.order, j.kind === 'd'),
  }));
  const scans = new Map<string, Scanned[]>();
  for (const { j, s } of scanned) push(scans, `${j.chain}\u0000${j.kind}\u0000${j.seq}`, s);
  const scansOf = (chain: string, kind: 'o' | 'd', seq: number) => scans.get(`${chain}\u0000${kind}\u0000${seq}`) ?? [];

  let totalBytes = 0;
  for (const { s } of scanned) totalBytes += s.bytes;

  const reports: ChainReport[] = [];
  const sortedChains = [...chains.keys()].sort();
  for (const chain of sortedChains) {
    const l = chains.get(chain)!;
    const cf: Finding[] = [];
    const add = (f: Omit<Finding, 'chain'>) => cf.push({ chain, ...f });

    const checkLock = (s: Scanned, base: Date, seqInfo: { seq?: number; digestSeq?: number }) => {
      const where = { key: s.version.key, versionId: s.version.versionId, ...seqInfo };
      if (!s.lockMode || !s.retainUntil) {
        if (!s.legalHold)
          add({ code: 'NOT_LOCKED', ...where, message: `${s.version.key} has no Object Lock retention` });
        return;
      }
      if (policyMode === 'COMPLIANCE' && s.lockMode !== 'COMPLIANCE') {
        add({
          code: 'LOCK_MODE_WEAK',
          ...where,
          expected: 'COMPLIANCE',
          actual: s.lockMode,
          message: `${s.version.key} is locked in ${s.lockMode} mode`,
        });
      }
      const min = base.getTime() + opts.policy.retentionDays * 86_400_000 - tolMs;
      if (s.retainUntil.getTime() < min) {
        add({
          code: 'RETENTION_TOO_SHORT',
          ...where,
          expected: `>= ${new Date(min + tolMs).toISOString()}`,
          actual: s.retainUntil.toISOString(),
          message: `${s.version.key} is retained until ${s.retainUntil.toISOString()}, less than ${opts.policy.retentionDays} days`,
        });
      }
    };

    // 2a. Digests, newest first to learn which version of each digest its successor pinned.
    const maxD = Math.max(0, ...l.digests.keys(), ...l.digestMarkers.keys());
    const chosenD = new Map<number, { s: Scanned; d: ParsedDigest | null }>();
    const badDigest = new Set<number>();
    let pinD: { key: string | null; versionId: string | null; sha256: string | null } | null = null;
    for (let ds = maxD; ds >= 1; ds--) {
      const vs = scansOf(chain, 'd', ds);
      const key = digestObjectKey(prefix, chain, ds);
      const pinnedVersion = pinD?.key === key ? pinD.versionId : null;
      let s: Scanned | undefined;
      if (pinnedVersion) {
        s = vs.find((x) => x.version.versionId === pinnedVersion);
        if (!s && vs.length > 0) {
          add({
            code: 'DIGEST_FORGED',
            digestSeq: ds,
            key,
            expected: pinnedVersion,
            actual: vs.map((x) => x.version.versionId).join(','),
            message: `digest ${ds} was replaced: the version digest ${ds + 1} pinned is gone`,
          });
          badDigest.add(ds);
          s = original(vs);
        }
      } else s = original(vs, (x) => parseDigest(x.content ?? Buffer.alloc(0))?.body.digestSeq === ds);
      if (vs.length > 1 && !badDigest.has(ds)) {
        add({ code: 'EXTRA_VERSION', digestSeq: ds, key, message: `digest ${ds} has ${vs.length} versions` });
      }
      if ((l.digestMarkers.get(ds)?.length ?? 0) > 0) {
        add({ code: 'DELETE_MARKER', digestSeq: ds, key, message: `a delete marker hides digest ${ds}` });
      }
      if (!s) {
        add({ code: 'DIGEST_MISSING', digestSeq: ds, key, message: `digest ${ds} of chain ${chain} is missing` });
        badDigest.add(ds);
        pinD = null;
        continue;
      }
      const d = parseDigest(s.content ?? Buffer.alloc(0));
      chosenD.set(ds, { s, d });
      if (!d) {
        add({ code: 'DIGEST_FORGED', digestSeq: ds, key, message: `digest ${ds} is not a readable digest` });
        badDigest.add(ds);
        pinD = null;
        continue;
      }
      // A link in the digest chain: digest N+1 pins N's hash.
      if (pinD?.key === key && pinD.sha256 && pinD.sha256 !== s.sha256 && !badDigest.has(ds)) {
        add({
          code: 'DIGEST_FORGED',
          digestSeq: ds,
          key,
          expected: pinD.sha256,
          actual: s.sha256,
          message: `digest ${ds} differs from the hash digest ${ds + 1} recorded`,
        });
        badDigest.add(ds);
      }
      const sigOk = verifyDigestSignature(d, opts.trust);
      if (!sigOk && !badDigest.has(ds)) {
        const wrongKey = d.body.publicKeySha256 !== opts.trust.publicKeySha256;
        add({
          code: wrongKey ? 'DIGEST_WRONG_KEY' : 'DIGEST_FORGED',
          digestSeq: ds,
          key,
          expected: wrongKey ? (opts.trust.keyId ?? opts.trust.publicKeySha256) : undefined,
          actual: wrongKey ? (d.signature.signingKeyId ?? d.body.publicKeySha256) : undefined,
          message: wrongKey
            ? `digest ${ds} is signed by another key (${d.signature.signingKeyId})`
            : `digest ${ds} signature does not verify`,
        });
        badDigest.add(ds);
      } else if (sigOk && (d.body.chain !== chain || d.body.digestSeq !== ds)) {
        add({
          code: 'OUT_OF_ORDER',
          digestSeq: ds,
          key,
          message: `digest at ${key} is digest ${d.body.digestSeq} of chain ${d.body.chain}`,
        });
        badDigest.add(ds);
      }
      checkLock(s, new Date(d.body.createdAt ?? s.version.lastModified), { digestSeq: ds });
      pinD = sigOk
        ? { key: d.body.prevDigestKey, versionId: d.body.prevDigestVersionId, sha256: d.body.prevDigestSha256 }
        : null;
    }

    // Pins from valid digests: seq → what the signer saw.
    const pins = new Map<number, { key: string; versionId: string; sha256: string; digestSeq: number }>();
    let digestedThrough = 0;
    for (const [ds, { d }] of chosenD) {
      if (!d || badDigest.has(ds)) continue;
      for (const o of d.body.objects) pins.set(o.seq, { ...o, digestSeq: ds });
      digestedThrough = Math.max(digestedThrough, d.body.toSeq);
    }

    // 2b. Objects, newest first: each header pins its predecessor.
    const listedSeqs = [...l.objects.keys()].filter((seq) => (l.objects.get(seq) ?? []).some(inWindow));
    const windowed = Boolean(opts.from || opts.to);
    const maxSeq = Math.max(
      0,
      ...listedSeqs,
      ...(windowed ? [] : pins.keys()),
      ...(windowed ? [] : l.objectMarkers.keys()),
    );
    const minSeq = windowed ? Math.min(...listedSeqs, maxSeq + 1) : 1;
    const chosen = new Map<number, Scanned>();
    const headers = new Map<number, ChainHeader | null>();
    const flagged = new Set<number>();
    let events = 0;
    let objects = 0;
    let headerPin: { key: string | null; versionId: string | null; sha256: string | null } | null = null;
    for (let seq = maxSeq; seq >= minSeq; seq--) {
      const key = chainObjectKey(prefix, chain, seq);
      const vs = scansOf(chain, 'o', seq);
      const dPin = pins.get(seq);
      const hPin = headerPin?.key === key ? headerPin : null;
      const pin = dPin ?? (hPin?.versionId ? { versionId: hPin.versionId, sha256: hPin.sha256 ?? '' } : null);
      headerPin = null;
      if ((l.objectMarkers.get(seq)?.length ?? 0) > 0) {
        add({ code: 'DELETE_MARKER', seq, key, message: `a delete marker hides object ${seq}` });
      }
      if (vs.length === 0) {
        add({
          code: 'OBJECT_MISSING',
          seq,
          key,
          versionId: pin?.versionId,
          message: `object ${seq} of chain ${chain} is missing`,
        });
        flagged.add(seq);
        continue;
      }
      let s = pin ? vs.find((x) => x.version.versionId === pin.versionId) : undefined;
      // The pinned version was deleted and something else put there (same bytes or not).
      const replaced = Boolean(pin && !s);
      s ??= original(vs, (x) => {
        const h = parseChainHeader(x.firstLine);
        return h?.chain === chain && h.seq === seq;
      })!;
      chosen.set(seq, s);
      objects++;
      const header = parseChainHeader(s.firstLine);
      headers.set(seq, header);
      if (header) events += Math.max(0, s.lines - 1);
      const modified = (f: Omit<Finding, 'chain' | 'code' | 'seq' | 'key'>) => {
        add({ code: 'OBJECT_MODIFIED', seq, key, ...f });
        flagged.add(seq);
      };
      if (header && (header.chain !== chain || header.seq !== seq)) {
        add({
          code: 'OUT_OF_ORDER',
          seq,
          key,
          expected: `${chain}#${seq}`,
          actual: `${header.chain}#${header.seq}`,
          message: `object at ${key} is object ${header.seq} of chain ${header.chain}`,
        });
        flagged.add(seq);
      } else if (replaced) {
        modified({
          expected: `${pin!.versionId} sha256=${pin!.sha256}`,
          actual: vs.map((x) => `${x.version.versionId} sha256=${x.sha256}`).join(', '),
          message: `object ${seq} was replaced: version ${pin!.versionId} is gone`,
        });
      } else if (pin?.sha256 && pin.sha256 !== s.sha256) {
        modified({
          versionId: s.version.versionId,
          expected: pin.sha256,
          actual: s.sha256,
          message: `object ${seq} does not match the SHA-256 ${dPin ? `digest ${dPin.digestSeq}` : `object ${seq + 1}`} recorded`,
        });
      } else if (!header) {
        modified({ versionId: s.version.versionId, message: `object ${seq} has no valid header` });
      } else if (header.count !== s.lines - 1) {
        modified({
          versionId: s.version.versionId,
          expected: `${header.count} events`,
          actual: `${s.lines - 1} lines`,
          message: `object ${seq} has a different number of events than its header says`,
        });
      }
      if (vs.length > 1 && !flagged.has(seq)) {
        add({
          code: 'EXTRA_VERSION',
          seq,
          key,
          actual: vs.map((x) => x.version.versionId).join(','),
          message: `object ${seq} has ${vs.length} versions; the writer creates each key once`,
        });
      }
      checkLock(s, header ? new Date(header.writtenAt) : s.version.lastModified, { seq });
      if (!header) continue;
      if (!flagged.has(seq)) {
        if (seq === 1 && (header.prevKey !== null || header.prevObjectSha256 !== null)) {
          add({ code: 'OUT_OF_ORDER', seq, key, message: `object 1 claims a predecessor (${header.prevKey})` });
          flagged.add(seq);
        } else if (seq > 1 && header.prevKey !== chainObjectKey(prefix, chain, seq - 1)) {
          add({
            code: 'OUT_OF_ORDER',
            seq,
            key,
            expected: chainObjectKey(prefix, chain, seq - 1),
            actual: String(header.prevKey),
            message: `object ${seq} links to ${header.prevKey}`,
          });
          flagged.add(seq);
        } else if (seq > 1) {
          headerPin = { key: header.prevKey, versionId: header.prevVersionId, sha256: header.prevObjectSha256 };
        }
      }
    }

    // 2c. Digest gaps and undigested objects.
    for (let ds = 1; ds <= maxD; ds++) {
      if (!chosenD.has(ds) && !cf.some((f) => f.code === 'DIGEST_MISSING' && f.digestSeq === ds)) {
        add({ code: 'DIGEST_MISSING', digestSeq: ds, message: `digest ${ds} of chain ${chain} is missing` });
      }
    }
    if (opts.maxDigestLagMs !== undefined && !windowed) {
      const late: number[] = [];
      for (const [seq, s] of chosen) {
        const written = headers.get(seq)?.writtenAt;
        const t = written ? Date.parse(written) : s.version.lastModified.getTime();
        if (seq > digestedThrough && now.getTime() - t > opts.maxDigestLagMs) late.push(seq);
      }
      if (late.length > 0) {
        late.sort((a, b) => a - b);
        add({
          code: 'DIGEST_MISSING',
          seq: late[0],
          message: `objects ${late[0]}..${late[late.length - 1]} are older than the digest lag and in no valid digest`,
        });
      }
    }

    // Object findings by seq, then digest findings by digest seq.
    cf.sort(
      (a, b) =>
        Number(a.seq === undefined) - Number(b.seq === undefined) ||
        (a.seq ?? 0) - (b.seq ?? 0) ||
        (a.digestSeq ?? 0) - (b.digestSeq ?? 0),
    );
    findings.push(...cf);
    reports.push({
      chain,
      objects,
      digests: chosenD.size,
      events,
      lastSeq: maxSeq,
      digestedThroughSeq: digestedThrough,
      intact: cf.length === 0,
      findings: cf,
    });
  }

  const stats = {
    objects: reports.reduce((a, r) => a + r.objects, 0),
    digests: reports.reduce((a, r) => a + r.digests, 0),
    events: reports.reduce((a, r) => a + r.events, 0),
    bytes: totalBytes,
    ms: Math.round(performance.now() - started),
  };
  return { intact: findings.length === 0, chains: reports, findings, stats };
}

/** Checks a digest's signature with the trusted public key (ECDSA P-384, SHA-384, DER). */
export function verifyDigestSignature(d: ParsedDigest, trust: Trust): boolean {
  try {
    const body: DigestBody = d.body;
    return cryptoVerify(
      'sha384',
      signingMessage(body.chain, body.digestSeq, d.bodyLine),
      { key: trust.publicKey, dsaEncoding: 'der' },
      Buffer.from(d.signature.signature, 'base64'),
    );
  } catch {
    return false;
  }
}
