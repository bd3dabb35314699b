/** The artifact being admitted: its bytes or known digests, and how they compare with what was signed. */
import { createHash } from 'node:crypto';
import type { SerializedBundle } from '@sigstore/bundle';

/** The artifact: its bytes (required for message-signature bundles) or known digests (hex). */
export interface ArtifactInput {
  readonly bytes?: Buffer;
  readonly digests?: Readonly<{ sha256?: string; sha512?: string }>;
}

/** Hex digest of the artifact bytes. */
export function hex(alg: 'sha256' | 'sha512', bytes: Buffer): string {
  return createHash(alg).update(bytes).digest('hex');
}

const HASH_BY_PROTO: Record<string, string> = {
  SHA2_256: 'sha256',
  SHA2_384: 'sha384',
  SHA2_512: 'sha512',
  HASH_ALGORITHM_UNSPECIFIED: 'sha256',
};

/** True unless a message-signature bundle's signed digest differs from the artifact's. */
export function messageDigestMatches(bundle: SerializedBundle, bytes: Buffer): boolean {
  const md = bundle.messageSignature?.messageDigest;
  if (!md) return true;
  const alg = HASH_BY_PROTO[md.algorithm] ?? 'sha256';
  return createHash(alg).update(bytes).digest('base64') === Buffer.from(md.digest, 'base64').toString('base64');
}
