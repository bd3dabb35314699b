/**
 * The digester: per chain, a signed digest of every chain object written since
 * the previous digest (key, version id, SHA-256), chained to the previous digest,
 * Object-Locked like the objects (format: ./digest-format.ts). Whoever holds only
 * the public key can then check, offline, that no object was changed, removed or
 * reordered up to the last digest, and that no digest was removed or replaced.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { awsCall } from '../shared/aws-errors.ts';
import { AidopsError } from '../shared/errors.ts';
import { chainObjectKey, DIGEST_FORMAT, digestObjectKey, normalizePrefix, parseChainHeader } from './chain.ts';
import {
  buildDigest,
  type DigestBody,
  type DigestEntry,
  type DigestSigner,
  publicKeySha256,
  SIGNING_ALGORITHM,
} from './digest-format.ts';
import type { ChainState, DigestHead, HeadStore } from './heads.ts';
import { type LockMode, putLocked, retainUntilFrom } from './retention-guard.ts';

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
}

export class DigestChainError extends AidopsError {
  override name = 'DigestChainError' as const;
}

const HEADER_RANGE = 'bytes=0-8191';

/**
 * Walks a chain backwards from its head to `throughSeq + 1`, reading only each
 * object's header (a range GET): header N names key, version and hash of N-1. The
 * head's own hash comes from the head store. So a digest pins exactly what the
 * writer chained, without downloading every object again.
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
  const entries: DigestEntry[] = [];
  let cur: DigestEntry = { seq: head.seq, key: head.key, versionId: head.versionId, sha256: head.sha256 };
  for (;;) {
    entries.push(cur);
    if (cur.seq <= throughSeq + 1) break;
    let text: string;
    try {
      const out = await awsCall('s3:GetObject', () =>
        s3.send(new GetObjectCommand({ Bucket: bucket, Key: cur.key, VersionId: cur.versionId, Range: HEADER_RANGE })),
      );
      text = await out.Body!.transformToString('utf8');
    } catch (e) {
      const name = (e as Error).name;
      if (name !== 'NoSuchVersion' && name !== 'NoSuchKey') throw e;
      // Never sign over a hole: the chain was tampered with (or lost) before it was digested.
      throw new DigestChainError(`chain ${state.chain}: version ${cur.versionId} of ${cur.key} is gone`, {
        chain: state.chain,
        key: cur.key,
        versionId: cur.versionId,
      });
    }
    const nl = text.indexOf('\n');
    const header = parseChainHeader(nl < 0 ? text : text.slice(0, nl));
    const expectedPrevKey = chainObjectKey(prefix, state.chain, cur.seq - 1);
    if (
      !header ||
      header.seq !== cur.seq ||
      header.prevKey !== expectedPrevKey ||
      !header.prevVersionId ||
      !header.prevObjectSha256
    ) {
      throw new DigestChainError(`chain ${state.chain}: object ${cur.key} does not link to seq ${cur.seq - 1}`, {
        chain: state.chain,
        key: cur.key,
      });
    }
    cur = { seq: cur.seq - 1, key: header.prevKey, versionId: header.prevVersionId, sha256: header.prevObjectSha256 };
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

/** Writes the next digest of one chain, or returns null when nothing new was written since the last one. */
export async function digestChain(deps: DigestDeps, state: ChainState): Promise<DigestWritten | null> {
  const { s3, signer, config } = deps;
  const prefix = normalizePrefix(config.prefix);
  const throughSeq = state.digest?.throughSeq ?? 0;
  if (!state.head || state.head.seq <= throughSeq) return null;
  const entries = await collectEntries(s3, config.bucket, prefix, state, throughSeq);
  const now = (deps.now ?? (() => new Date()))();
  const digestSeq = (state.digest?.digestSeq ?? 0) + 1;
  const body: DigestBody = {
    format: DIGEST_FORMAT,
    chain: state.chain,
    digestSeq,
    prevDigestKey: state.digest?.key ?? null,
    prevDigestVersionId: state.digest?.versionId ?? null,
    prevDigestSha256: state.digest?.sha256 ?? null,
    createdAt: now.toISOString(),
    fromSeq: entries[0]!.seq,
    toSeq: entries[entries.length - 1]!.seq,
    objects: entries,
    signingKeyId: signer.keyId,
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKeySha256: publicKeySha256(signer.publicKeyDer),
  };
  const bytes = await buildDigest(body, signer);
  const key = digestObjectKey(prefix, state.chain, digestSeq);
  const put = await putLocked(s3, {
    bucket: config.bucket,
    key,
    body: bytes,
    kmsKeyId: config.kmsKeyId,
    mode: config.lockMode ?? 'COMPLIANCE',
    retainUntil: retainUntilFrom(now, config.retentionDays),
    contentType: 'application/json',
  });
  const dHead: DigestHead = {
    digestSeq,
    throughSeq: body.toSeq,
    key,
    versionId: put.versionId,
    sha256: put.sha256,
  };
  await deps.heads.advanceDigest(state.chain, dHead);
  return { chain: state.chain, digestSeq, key, versionId: put.versionId, fromSeq: body.fromSeq, toSeq: body.toSeq };
}

export interface DigestRunResult {
  readonly written: readonly DigestWritten[];
  readonly skipped: number;
  readonly errors: readonly { chain: string; name: string; message: string }[];
}

/** One scheduled run: a digest for every chain that grew since its last digest. One bad chain does not stop the others. */
export async function runDigests(deps: DigestDeps): Promise<DigestRunResult> {
  const written: DigestWritten[] = [];
  const errors: { chain: string; name: string; message: string }[] = [];
  let skipped = 0;
  for await (const state of deps.heads.list()) {
    try {
      const d = await digestChain(deps, state);
      if (d) written.push(d);
      else skipped++;
    } catch (e) {
      // ObjectExistsError: another digester wrote this seq first; the next run continues from its head.
      const err = e as Error;
      errors.push({
        chain: state.chain,
        name: err.name,
        message: err.message,
      });
    }
  }
  return { written, skipped, errors };
}
