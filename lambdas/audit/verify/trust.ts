/**
 * The verifier's only trust anchor: the digest signing public key, given as a
 * PEM/DER file or fetched once from KMS; digest signatures are checked locally.
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { awsCall, type ClassifyOptions } from '../../shared/aws-errors.ts';
import { AidopsError } from '../../shared/errors.ts';
import { type ParsedDigest, publicKeySha256, signingMessage } from '../digest-format.ts';

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
export async function trustFromKms(kms: KMSClient, keyId: string, opts: ClassifyOptions = {}): Promise<Trust> {
  const out = await awsCall('kms:GetPublicKey', () => kms.send(new GetPublicKeyCommand({ KeyId: keyId })), opts);
  if (!out.PublicKey) throw new AidopsError('KMS returned no public key', { keyId });
  return trustFromPublicKey(Buffer.from(out.PublicKey), out.KeyId ?? keyId);
}

/** Checks a digest's signature with the trusted public key (ECDSA P-384, SHA-384, DER). */
export function verifyDigestSignature(d: ParsedDigest, trust: Trust): boolean {
  try {
    return cryptoVerify(
      'sha384',
      signingMessage(d.body.chain, d.body.digestSeq, d.bodyLine),
      { key: trust.publicKey, dsaEncoding: 'der' },
      Buffer.from(d.signature.signature, 'base64'),
    );
  } catch {
    return false;
  }
}
