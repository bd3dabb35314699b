/**
 * Secret release: encrypt a session's secrets to the attested public key.
 *
 * Scheme (chosen because node:crypto has no HPKE; this is the same construction
 * as HPKE's DHKEM + HKDF + AEAD, built from standard primitives):
 *  - EC recipient (P-256/P-384/P-521): ECDH-ES with a fresh ephemeral key on the
 *    recipient's curve → HKDF-SHA384(ikm = shared secret, salt = epk ‖ recipient
 *    point, info = "aidops-attest-v1" ‖ 0 ‖ context) → 32-byte key → AES-256-GCM
 *    (12-byte random IV, AAD = context). Forward-secret for the sender.
 *  - RSA recipient (≥ 2048 bits): a random AES-256-GCM key wrapped with
 *    RSA-OAEP-SHA256; same AAD.
 * `context` binds the ciphertext to the session (e.g. "session:<id>"), so it cannot be
 * replayed into another session.
 *
 * Nitro `public_key` is free-form bytes: we accept SPKI DER, PEM text (SPKI or
 * PKCS#1 RSA) and raw uncompressed EC points (04‖x‖y for P-256/384/521). Anything
 * else (e.g. 32 raw bytes, which could be X25519 or Ed25519) is UNSUPPORTED_PUBLIC_KEY.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  constants as cryptoConstants,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { classifyAwsError } from '../shared/aws-errors.ts';
import { EndpointUnreachableError, TransientError } from '../shared/errors.ts';
import { reject } from './reasons.ts';

export const EC_SCHEME = 'ECDH-ES+HKDF-SHA384+A256GCM';
export const RSA_SCHEME = 'RSA-OAEP-256+A256GCM';
const INFO = 'aidops-attest-v1';

export interface SealedSecrets {
  readonly scheme: typeof EC_SCHEME | typeof RSA_SCHEME;
  /** Ephemeral public key, SPKI DER base64 (EC only). */
  readonly epk?: string;
  /** AES key wrapped with RSA-OAEP-SHA256, base64 (RSA only). */
  readonly encryptedKey?: string;
  readonly iv: string;
  readonly ciphertext: string;
  readonly tag: string;
  /** The AAD, as text. */
  readonly context: string;
}

const CURVE_BY_POINT: Record<number, string> = { 65: 'P-256', 97: 'P-384', 133: 'P-521' };

/** Imports the attested key from the formats Nitro documents and SNP guests use. */
export function importAttestedPublicKey(bytes: Uint8Array | null | undefined): KeyObject {
  if (!bytes || bytes.length === 0) return reject('UNSUPPORTED_PUBLIC_KEY', 'the evidence carries no public key.');
  let key: KeyObject | undefined;
  try {
    const text = Buffer.from(bytes).toString('latin1');
    if (text.includes('-----BEGIN')) key = createPublicKey(text);
    else if (bytes[0] === 0x30) key = createPublicKey({ key: Buffer.from(bytes), format: 'der', type: 'spki' });
    else if (bytes[0] === 0x04 && CURVE_BY_POINT[bytes.length]) {
      const n = (bytes.length - 1) / 2;
      key = createPublicKey({
        format: 'jwk',
        key: {
          kty: 'EC',
          crv: CURVE_BY_POINT[bytes.length],
          x: Buffer.from(bytes.subarray(1, 1 + n)).toString('base64url'),
          y: Buffer.from(bytes.subarray(1 + n)).toString('base64url'),
        },
      });
    }
  } catch {
    key = undefined;
  }
  if (!key) return reject('UNSUPPORTED_PUBLIC_KEY', `unrecognised public key (${bytes.length} bytes).`);
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return key;
  if (
    key.asymmetricKeyType === 'ec' &&
    ['prime256v1', 'secp384r1', 'secp521r1'].includes(key.asymmetricKeyDetails?.namedCurve ?? '')
  )
    return key;
  return reject(
    'UNSUPPORTED_PUBLIC_KEY',
    `a ${key.asymmetricKeyType} key cannot receive secrets (EC P-256/384/521 or RSA ≥ 2048).`,
  );
}

function gcm(key: Uint8Array, plaintext: Uint8Array, context: string) {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(context, 'utf8'));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return { iv: iv.toString('base64'), ciphertext: ct.toString('base64'), tag: c.getAuthTag().toString('base64') };
}

function ecKdf(shared: Uint8Array, epkDer: Uint8Array, recipientDer: Uint8Array, context: string): Buffer {
  const salt = Buffer.concat([epkDer, recipientDer]);
  const info = Buffer.concat([Buffer.from(INFO), Uint8Array.of(0), Buffer.from(context, 'utf8')]);
  return Buffer.from(hkdfSync('sha384', shared, salt, info, 32));
}

/** Encrypts `plaintext` to `recipient` (see the scheme above). */
export function sealToPublicKey(plaintext: Uint8Array, recipient: KeyObject, context: string): SealedSecrets {
  if (recipient.asymmetricKeyType === 'rsa') {
    const cek = randomBytes(32);
    const wrapped = publicEncrypt(
      { key: recipient, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      cek,
    );
    return { scheme: RSA_SCHEME, encryptedKey: wrapped.toString('base64'), ...gcm(cek, plaintext, context), context };
  }
  const namedCurve = recipient.asymmetricKeyDetails?.namedCurve ?? '';
  const eph = generateKeyPairSync('ec', { namedCurve });
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: recipient });
  const epkDer = eph.publicKey.export({ format: 'der', type: 'spki' });
  const recDer = recipient.export({ format: 'der', type: 'spki' });
  const key = ecKdf(shared, epkDer, recDer, context);
  return { scheme: EC_SCHEME, epk: epkDer.toString('base64'), ...gcm(key, plaintext, context), context };
}

/** The guest side: decrypts a SealedSecrets with the private key it attested. */
export function openSealed(s: SealedSecrets, privateKey: KeyObject): Buffer {
  let key: Buffer;
  if (s.scheme === RSA_SCHEME) {
    key = privateDecrypt(
      { key: privateKey, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from(s.encryptedKey ?? '', 'base64'),
    );
  } else {
    const epk = createPublicKey({ key: Buffer.from(s.epk ?? '', 'base64'), format: 'der', type: 'spki' });
    const shared = diffieHellman({ privateKey, publicKey: epk });
    const recDer = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    key = ecKdf(shared, epk.export({ format: 'der', type: 'spki' }), recDer, s.context);
  }
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(s.iv, 'base64'));
  d.setAAD(Buffer.from(s.context, 'utf8'));
  d.setAuthTag(Buffer.from(s.tag, 'base64'));
  return Buffer.concat([d.update(Buffer.from(s.ciphertext, 'base64')), d.final()]);
}

/** The secret id holding a session's secrets. */
export function sessionSecretId(prefix: string, sessionId: string): string {
  return `${prefix}${sessionId}`;
}

/** Reads the session's secret from Secrets Manager and seals it to `recipient`. */
export async function releaseSecrets(
  sm: SecretsManagerClient,
  args: { secretPrefix: string; sessionId: string; recipient: KeyObject },
): Promise<SealedSecrets> {
  const secretId = sessionSecretId(args.secretPrefix, args.sessionId);
  let plaintext: Uint8Array;
  try {
    const out = await sm.send(new GetSecretValueCommand({ SecretId: secretId }));
    plaintext =
      out.SecretString !== undefined ? Buffer.from(out.SecretString, 'utf8') : (out.SecretBinary ?? new Uint8Array());
  } catch (e) {
    const err = classifyAwsError(e, `reading ${secretId}`);
    // Throttling, 5xx and an unreachable endpoint are retried; anything else (not found, denied) is a verdict.
    if (err instanceof TransientError || err instanceof EndpointUnreachableError) throw err;
    const name = (e as Error)?.name ?? '';
    return reject('SECRETS_UNAVAILABLE', `${secretId}: ${name || String(e)}.`, { secretId });
  }
  return sealToPublicKey(plaintext, args.recipient, `session:${args.sessionId}`);
}
