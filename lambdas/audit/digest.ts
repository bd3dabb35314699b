/**
 * The digester: per chain, a signed digest of every chain object written since
 * the previous digest (key, version id, SHA-256), chained to the previous digest,
 * Object-Locked like the objects (format: ./digest-format.ts). Whoever holds only
 * the public key can then check, offline, that no object was changed, removed or
 * reordered up to the last digest, and that no digest was removed or replaced.
 * Nothing is signed on trust: every new object is read, hashed and its link
 * checked first (collectEntries); a chain that does not check out is refused.
 */
import { createHash } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { awsCall, httpStatusOf } from '../shared/aws-errors.ts';
import { AidopsError } from '../shared/errors.ts';
import type { MetricSink } from '../shared/middleware.ts';
import {
  chainObjectKey,
  DIGEST_FORMAT,
  digestObjectKey,
  linkTarget,
  normalizePrefix,
  parseChainHeader,
} from './chain.ts';
import {
  buildDigest,
  type DigestBody,
  type DigestEntry,
  type DigestSigner,
  parseDigest,
  publicKeySha256,
  SIGNING_ALGORITHM,
} from './digest-format.ts';
import type { ChainState, HeadStore } from './heads.ts';
import { type LockMode, ObjectExistsError, putLocked, retainUntilFrom } from './retention-guard.ts';
import { trustFromPublicKey, verifyDigestSignature } from './verify/trust.ts';

export interface DigestConfig {
  readonly bucket: string;
  readonly prefix: string;
  /** SSE-KMS key for digest objects. */
  readonly kmsKeyId: string;
  readonly retentionDays: number;
  /** @default 'COMPLIANCE' */
  readonly lockMode?: LockMode;
}

export interface DigestDeps {
  readonly s3: S3Client;
  readonly heads: HeadStore;
  readonly signer: DigestSigner;
  readonly config: DigestConfig;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Operations metrics: AuditLag. */
  readonly metric?: MetricSink;
}

export class DigestChainError extends AidopsError {
  override name = 'DigestChainError' as const;
}

/** Why the digester refused to sign a chain (DigestChainError details). */
export type RefusalReason = 'OBJECT_GONE' | 'HASH_MISMATCH' | 'BAD_HEADER' | 'BAD_LINK';

function refuse(chain: string, reason: RefusalReason, message: string, details: Record<string, unknown> = {}): never {
  throw new DigestChainError(`chain ${chain}: ${message}`, { chain, reason, ...details });
}

/**
 * Checks every object written since the last digest before anything is signed:
 * from the head (DynamoDB) back to the last digested object, each version is read
 * whole and hashed against what pins it (the head for the newest, the successor's
 * header for the others), its header must be this chain's object at that seq with
 * the right event count, and its link must land exactly on the last digested
 * object (key, version, hash). Anything else, and the chain is not signed.
 */
export async function collectEntries(
  s3: S3Client,
  bucket: string,
  prefix: string,
  state: ChainState,
  throughSeq: number,
): Promise<DigestEntry[]> {
  const head = state.head;
  if (!head) return [];
  const chain = state.chain;
  const through = throughSeq > 0 ? (state.digest?.through ?? null) : null;
  const entries: DigestEntry[] = [];
  let cur: DigestEntry = { seq: head.seq, key: head.key, versionId: head.versionId, sha256: head.sha256 };
  let pinnedBy = 'the chain head';
  for (;;) {
    let bytes: Buffer;
    try {
      const out = await awsCall('s3:GetObject', () =>
        s3.send(new GetObjectCommand({ Bucket: bucket, Key: cur.key, VersionId: cur.versionId })),
      );
      bytes = Buffer.from(await out.Body!.transformToByteArray());
    } catch (e) {
      const name = (e as Error).name;
      if (name !== 'NoSuchVersion' && name !== 'NoSuchKey') throw e;
      // Never sign over a hole: the chain was tampered with (or lost) before it was digested.
      refuse(chain, 'OBJECT_GONE', `version ${cur.versionId} of ${cur.key} is gone`, {
        key: cur.key,
        versionId: cur.versionId,
      });
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== cur.sha256) {
      refuse(chain, 'HASH_MISMATCH', `object ${cur.seq} does not match the SHA-256 ${pinnedBy} recorded`, {
        key: cur.key,
        versionId: cur.versionId,
        expected: cur.sha256,
        actual: sha256,
      });
    }
    const nl = bytes.indexOf(10);
    const header = parseChainHeader(bytes.subarray(0, nl < 0 ? bytes.length : nl).toString('utf8'));
    let lines = 0;
    for (let i = bytes.indexOf(10); i >= 0; i = bytes.indexOf(10, i + 1)) lines++;
    if (!header || header.chain !== chain || header.seq !== cur.seq || header.count !== lines - 1) {
      refuse(chain, 'BAD_HEADER', `object ${cur.seq} (${cur.key}) has no valid header for its position`, {
        key: cur.key,
      });
    }
    entries.push(cur);
    const link = linkTarget(prefix, chain, cur.seq, header);
    if ('reason' in link) refuse(chain, 'BAD_LINK', `object ${cur.seq} ${link.reason}`, { key: cur.key });
    if (link.prevSeq <= throughSeq) {
      const landsOnDigested =
        link.prevSeq === throughSeq &&
        (throughSeq === 0 ||
          !through ||
          (header.prevKey === through.key &&
            header.prevVersionId === through.versionId &&
            header.prevObjectSha256 === through.sha256));
      if (!landsOnDigested) {
        refuse(
          chain,
          'BAD_LINK',
          `object ${cur.seq} links to ${header.prevKey ?? 'nothing'}, not to the last digested object ${through?.key ?? `seq ${throughSeq}`}`,
          { key: cur.key },
        );
      }
      break;
    }
    pinnedBy = `object ${cur.seq}`;
    cur = {
      seq: link.prevSeq,
      key: header.prevKey!,
      versionId: header.prevVersionId!,
      sha256: header.prevObjectSha256!,
    };
  }
  return entries.reverse();
}

export interface DigestWritten {
  readonly chain: string;
  readonly digestSeq: number;
  readonly key: string;
  readonly versionId: string;
  readonly fromSeq: number;
  readonly toSeq: number;
}

/** Digest keys one run may skip because someone else had put an object there. */
const MAX_DIGEST_SKIPS = 8;

/**
 * The digest already at `key`: ours (signed by our key, this chain and seq, chained
 * to our digest head: another digester run wrote it and died before moving the
 * head) or not (someone else put it there: skip the key).
 */
async function existingDigest(deps: DigestDeps, state: ChainState, key: string, digestSeq: number) {
  const out = await awsCall('s3:GetObject', () =>
    deps.s3.send(new GetObjectCommand({ Bucket: deps.config.bucket, Key: key })),
  );
  const bytes = Buffer.from(await out.Body!.transformToByteArray());
  const d = parseDigest(bytes);
  const ours =
    d !== null &&
    out.VersionId !== undefined &&
    d.body.chain === state.chain &&
    d.body.digestSeq === digestSeq &&
    d.body.prevDigestKey === (state.digest?.key ?? null) &&
    d.body.prevDigestVersionId === (state.digest?.versionId ?? null) &&
    d.body.prevDigestSha256 === (state.digest?.sha256 ?? null) &&
    d.body.objects.length > 0 &&
    verifyDigestSignature(d, trustFromPublicKey(deps.signer.publicKeyDer));
  return { ours, d, versionId: out.VersionId, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** A digest key held an object the digester did not write: the digest chain skipped it. */
export interface DigestKeySquatted {
  readonly chain: string;
  readonly key: string;
  readonly versionId?: string;
}

/**
 * Writes the next digest of one chain, or returns null when nothing new was
 * written since the last one. Refuses (DigestChainError) when the new objects do
 * not check out; skips digest keys someone else squatted (reported through `onSquatted`).
 */
export async function digestChain(
  deps: DigestDeps,
  state: ChainState,
  onSquatted: (s: DigestKeySquatted) => void = () => undefined,
): Promise<DigestWritten | null> {
  const { s3, signer, config } = deps;
  const prefix = normalizePrefix(config.prefix);
  const throughSeq = state.digest?.throughSeq ?? 0;
  if (!state.head || state.head.seq <= throughSeq) return null;
  const entries = await collectEntries(s3, config.bucket, prefix, state, throughSeq);
  const now = (deps.now ?? (() => new Date()))();
  const last = entries[entries.length - 1]!;
  for (let skips = 0, digestSeq = (state.digest?.digestSeq ?? 0) + 1; ; digestSeq++) {
    const body: DigestBody = {
      format: DIGEST_FORMAT,
      chain: state.chain,
      digestSeq,
      prevDigestKey: state.digest?.key ?? null,
      prevDigestVersionId: state.digest?.versionId ?? null,
      prevDigestSha256: state.digest?.sha256 ?? null,
      createdAt: now.toISOString(),
      fromSeq: entries[0]!.seq,
      toSeq: last.seq,
      objects: entries,
      signingKeyId: signer.keyId,
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKeySha256: publicKeySha256(signer.publicKeyDer),
    };
    const bytes = await buildDigest(body, signer);
    const key = digestObjectKey(prefix, state.chain, digestSeq);
    let put: { versionId: string; sha256: string };
    try {
      put = await putLocked(s3, {
        bucket: config.bucket,
        key,
        body: bytes,
        kmsKeyId: config.kmsKeyId,
        mode: config.lockMode ?? 'COMPLIANCE',
        retainUntil: retainUntilFrom(now, config.retentionDays),
        contentType: 'application/json',
      });
    } catch (e) {
      if (!(e instanceof ObjectExistsError)) throw e;
      const found = await existingDigest(deps, state, key, digestSeq);
      if (found.ours && found.d && found.versionId) {
        // A run that died after its PUT: move the head to its digest; the next run digests the rest.
        const o = found.d.body.objects[found.d.body.objects.length - 1]!;
        await deps.heads.advanceDigest(state.chain, {
          digestSeq,
          throughSeq: found.d.body.toSeq,
          key,
          versionId: found.versionId,
          sha256: found.sha256,
          through: { key: o.key, versionId: o.versionId, sha256: o.sha256 },
        });
        return null;
      }
      onSquatted({ chain: state.chain, key, versionId: found.versionId });
      if (++skips >= MAX_DIGEST_SKIPS)
        throw new DigestChainError(`chain ${state.chain}: digest keys squatted`, {
          chain: state.chain,
          reason: 'DIGEST_KEY_SQUATTED',
          key,
        });
      continue;
    }
    await deps.heads.advanceDigest(state.chain, {
      digestSeq,
      throughSeq: body.toSeq,
      key,
      versionId: put.versionId,
      sha256: put.sha256,
      through: { key: last.key, versionId: last.versionId, sha256: last.sha256 },
    });
    return { chain: state.chain, digestSeq, key, versionId: put.versionId, fromSeq: body.fromSeq, toSeq: body.toSeq };
  }
}

export interface DigestRunResult {
  readonly written: readonly DigestWritten[];
  readonly skipped: number;
  readonly errors: readonly { chain: string; name: string; message: string; reason?: string }[];
  /** Chains the digester refused to sign (their new objects did not check out): alarm. */
  readonly refused: readonly { chain: string; reason: string; message: string }[];
  /** Digest keys someone else had put an object at: alarm. */
  readonly squatted: readonly DigestKeySquatted[];
  /** Age in seconds of the oldest object no digest covers after this run (0 when every chain is covered). */
  readonly lagSeconds: number;
}

/** When the first object past the chain's digest was written: its own key, else the head's (S3's time). */
async function firstUncoveredAt(deps: DigestDeps, state: ChainState): Promise<Date | null> {
  const prefix = normalizePrefix(deps.config.prefix);
  const next = chainObjectKey(prefix, state.chain, (state.digest?.throughSeq ?? 0) + 1);
  const candidates = [{ key: next }, ...(state.head ? [{ key: state.head.key, versionId: state.head.versionId }] : [])];
  for (const c of candidates) {
    try {
      const out = await awsCall('s3:HeadObject', () =>
        deps.s3.send(new HeadObjectCommand({ Bucket: deps.config.bucket, Key: c.key, VersionId: c.versionId })),
      );
      if (out.LastModified) return out.LastModified;
    } catch (e) {
      if (httpStatusOf(e) !== 404 && (e as Error).name !== 'NotFound') throw e;
    }
  }
  return null;
}

/** One scheduled run: a digest for every chain that grew since its last digest. One bad chain does not stop the others. */
export async function runDigests(deps: DigestDeps): Promise<DigestRunResult> {
  const written: DigestWritten[] = [];
  const errors: { chain: string; name: string; message: string; reason?: string }[] = [];
  const refused: { chain: string; reason: string; message: string }[] = [];
  const squatted: DigestKeySquatted[] = [];
  let skipped = 0;
  const behind: ChainState[] = [];
  for await (const state of deps.heads.list()) {
    try {
      const d = await digestChain(deps, state, (s) => squatted.push(s));
      if (d) written.push(d);
      else skipped++;
    } catch (e) {
      behind.push(state);
      const err = e as Error;
      const reason = e instanceof DigestChainError ? String(e.details.reason ?? '') : undefined;
      errors.push({ chain: state.chain, name: err.name, message: err.message, reason });
      if (e instanceof DigestChainError)
        refused.push({ chain: state.chain, reason: reason ?? '', message: err.message });
    }
  }
  // Audit pipeline lag: what this run could not cover, by S3's own times (the head table keeps no times).
  const now = (deps.now ?? (() => new Date()))();
  let lagSeconds = 0;
  for (const state of behind) {
    const at = await firstUncoveredAt(deps, state).catch(() => null);
    if (at) lagSeconds = Math.max(lagSeconds, Math.max(0, (now.getTime() - at.getTime()) / 1000));
  }
  deps.metric?.('AuditLag', MetricUnit.Seconds, lagSeconds);
  return { written, skipped, errors, refused, squatted, lagSeconds };
}
