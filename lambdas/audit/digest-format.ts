/**
 * The signed digest document (the CloudTrail digest-file idea, per session).
 *
 * Format: two lines. Line 1 is the body JSON; line 2 is the signature JSON. The
 * signature covers the exact bytes of line 1 (through a small RAW message that
 * names the format, chain, digest seq and SHA-256 of line 1: KMS RAW messages are
 * limited to 4 KiB, and this keeps verification free of JSON canonicalization).
 */
import { createHash } from 'node:crypto';
import { DIGEST_FORMAT } from './chain.ts';

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

/** Signs the small RAW message for a digest body (KMS in AWS and in moto: ./digest-signer.ts). */
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
