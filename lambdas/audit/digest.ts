/**
 * Signed digests, per chain (the CloudTrail digest-file idea, per session).
 *
 * A digest lists every chain object written since the previous digest (key,
 * version id, SHA-256) and the SHA-256 of the previous digest, and is signed with a
 * KMS asymmetric key (ECC_NIST_P384 / ECDSA_SHA_384). Digests are Object-Locked like
 * the objects. Whoever holds only the public key can then check, offline, that no
 * object was changed, removed or reordered up to the last digest, and that no digest
 * was removed or replaced.
 *
 * Format: two lines. Line 1 is the body JSON; line 2 is the signature JSON. The
 * signature covers the exact bytes of line 1 (through a small RAW message that
 * names the format, chain, digest seq and SHA-256 of line 1: KMS RAW messages are
 * limited to 4 KiB, and this keeps verification free of JSON canonicalization).
 */
import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { AidopsError } from '../shared/errors.ts';
import {
  type ChainState,
  chainObjectKey,
  DIGEST_FORMAT,
  type DigestHead,
  digestObjectKey,
  type HeadStore,
  normalizePrefix,
  parseChainHeader,
} from './chain.ts';
import { type LockMode, putLocked, retainUntilFrom } from './retention-guard.ts';

export const SIGNING_ALGORITHM = 'ECDSA_SHA_384' as const;

export interface DigestEntry {
  readonly seq: number;
  readonly key: string;
  readonly versionId: string;
  readonly sha256: string;
}

export interface DigestBody {
  readonly format: typeof DIGEST_FORMAT;
  readonly chain: string;
  readonly digestSeq: number;
  readonly prevDigestKey: string | null;
  readonly prevDigestVersionId: string | null;
  /** SHA-256 of the whole previous digest object (both lines). */
  readonly prevDigestSha256: string | null;
  readonly createdAt: string;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly objects: readonly DigestEntry[];
  readonly signingKeyId: string;
  readonly signingAlgorithm: typeof SIGNING_ALGORITHM;
  /** SHA-256 of the signer's public key (DER SPKI): lets a verifier tell "wrong key" from "forged". */
  readonly publicKeySha256: string;
}

export interface DigestSignature {
  readonly signingKeyId: string;
  readonly signingAlgorithm: typeof SIGNING_ALGORITHM;
  /** Base64 DER ECDSA signature, as KMS returns it. */
  readonly signature: string;
}

/** Signs the small RAW message for a digest body. */
export interface DigestSigner {
  readonly keyId: string;
  readonly publicKeyDer: Buffer;
  sign(message: Buffer): Promise<Buffer>;
}

export function publicKeySha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** The exact bytes the KMS key signs for a digest. */
export function signingMessage(chain: string, digestSeq: number, bodyLine: Uint8Array): Buffer {
  const h = createHash('sha256').update(bodyLine).digest('hex');
  return Buffer.from(`${DIGEST_FORMAT}\n${chain}\n${digestSeq}\n${h}\n`, 'utf8');
}

/** Signer backed by KMS Sign (RAW message, ECDSA_SHA_384); fetches the public key once. */
export async function kmsSigner(kms: KMSClient, keyId: string): Promise<DigestSigner> {
  const pk = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  if (!pk.PublicKey || !pk.KeyId) throw new AidopsError('KMS GetPublicKey returned no key', { keyId });
  if (pk.KeySpec && pk.KeySpec !== 'ECC_NIST_P384') {
    throw new AidopsError(`audit signing key must be ECC_NIST_P384, got ${pk.KeySpec}`, { keyId });
  }
  const arn = pk.KeyId;
  return {
    keyId: arn,
    publicKeyDer: Buffer.from(pk.PublicKey),
    async sign(message) {
      const out = await kms.send(
        new SignCommand({ KeyId: arn, Message: message, MessageType: 'RAW', SigningAlgorithm: SIGNING_ALGORITHM }),
      );
      if (!out.Signature) throw new AidopsError('KMS Sign returned no signature', { keyId: arn });
      return Buffer.from(out.Signature);
    },
  };
}

/**
 * Local P-384 signer with the same output as KMS (DER ECDSA over SHA-384). Only for
 * benchmarks and offline fixtures; deployments sign with KMS (moto supports it too).
 */
export function localEcdsaP384Signer(privateKeyPem: string | KeyObject, keyId = 'local-p384'): DigestSigner {
  const priv = typeof privateKeyPem === 'string' ? createPrivateKey(privateKeyPem) : privateKeyPem;
  const der = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  return {
    keyId,
    publicKeyDer: der,
    async sign(message) {
      return cryptoSign('sha384', message, { key: priv, dsaEncoding: 'der' });
    },
  };
}

/** Body line + signature line. */
export async function buildDigest(body: DigestBody, signer: DigestSigner): Promise<Buffer> {
  const line = Buffer.from(JSON.stringify(body), 'utf8');
  const sig = await signer.sign(signingMessage(body.chain, body.digestSeq, line));
  const sigLine: DigestSignature = {
    signingKeyId: signer.keyId,
    signingAlgorithm: SIGNING_ALGORITHM,
    signature: sig.toString('base64'),
  };
  return Buffer.concat([line, Buffer.from(`\n${JSON.stringify(sigLine)}\n`, 'utf8')]);
}

export interface ParsedDigest {
  readonly body: DigestBody;
  readonly bodyLine: Buffer;
  readonly signature: DigestSignature;
}

/** Splits and shape-checks a digest object; null if it is not one. */
export function parseDigest(bytes: Buffer): ParsedDigest | null {
  const nl = bytes.indexOf(10);
  if (nl < 0) return null;
  const bodyLine = bytes.subarray(0, nl);
  const rest = bytes
    .subarray(nl + 1)
    .toString('utf8')
    .trim();
  try {
    const body = JSON.parse(bodyLine.toString('utf8')) as DigestBody;
    const signature = JSON.parse(rest) as DigestSignature;
    if (
      body?.format !== DIGEST_FORMAT ||
      typeof body.chain !== 'string' ||
      !Number.isSafeInteger(body.digestSeq) ||
      !Array.isArray(body.objects) ||
      typeof signature?.signature !== 'string'
    ) {
      return null;
    }
    return { body, bodyLine, signature };
  } catch {
    return null;
  }
}

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
      const out = await s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: cur.key, VersionId: cur.versionId, Range: HEADER_RANGE }),
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
