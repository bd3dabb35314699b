/**
 * Trust material: the trusted root's shape (what sigstore-js would accept but the
 * spec forbids), verification keys for key-signed bundles (npm registry keys,
 * cosign `--key`) and the key finder the library calls.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { type KeyFinderFunc, VerificationError } from '@sigstore/verify';
import { refuse } from '../errors.ts';
import { isObject } from '../json.ts';

/** A verification key for key-signed bundles (npm registry keys, cosign `--key`). */
export interface TrustedKey {
  readonly publicKey: KeyObject;
  readonly validFor?: { readonly start?: Date; readonly end?: Date };
}

/** A trusted root that sigstore-js would accept but the spec forbids (see README: missing validFor.start). */
export function checkTrustedRootShape(json: unknown): void {
  if (!isObject(json)) refuse('TRUSTED_ROOT_INVALID', 'trusted root is not a JSON object');
  const root = json as Record<string, unknown>;
  const media = root.mediaType;
  if (typeof media !== 'string' || !media.startsWith('application/vnd.dev.sigstore.trustedroot'))
    refuse('TRUSTED_ROOT_INVALID', `unexpected trusted root media type ${String(media)}`);
  for (const field of ['tlogs', 'ctlogs'] as const) {
    const list = root[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) refuse('TRUSTED_ROOT_INVALID', `${field} is not a list`);
    (list as unknown[]).forEach((entry, i) => {
      const start = isObject(entry) && isObject(entry.publicKey) && isObject(entry.publicKey.validFor);
      if (
        !start ||
        typeof (entry as { publicKey: { validFor: { start?: unknown } } }).publicKey.validFor.start !== 'string'
      )
        refuse('TRUSTED_ROOT_INVALID', `${field}[${i}].publicKey.validFor.start is required`);
    });
  }
  for (const field of ['certificateAuthorities', 'timestampAuthorities'] as const) {
    const list = root[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) refuse('TRUSTED_ROOT_INVALID', `${field} is not a list`);
    (list as unknown[]).forEach((entry, i) => {
      if (!isObject(entry) || !isObject(entry.validFor) || typeof entry.validFor.start !== 'string')
        refuse('TRUSTED_ROOT_INVALID', `${field}[${i}].validFor.start is required`);
    });
  }
}

/** Parses the npm registry keys document (sigstore-js `keys` form), keeping one usage. */
export function npmRegistryKeys(json: unknown, usage = 'npm:attestations'): Record<string, TrustedKey> {
  const out: Record<string, TrustedKey> = {};
  const keys = isObject(json) && Array.isArray(json.keys) ? json.keys : [];
  for (const k of keys as unknown[]) {
    if (!isObject(k) || k.keyUsage !== usage || typeof k.keyId !== 'string' || !isObject(k.publicKey)) continue;
    const pk = k.publicKey;
    if (typeof pk.rawBytes !== 'string') continue;
    const vf = isObject(pk.validFor) ? pk.validFor : {};
    out[k.keyId] = {
      publicKey: createPublicKey({ key: Buffer.from(pk.rawBytes, 'base64'), format: 'der', type: 'spki' }),
      validFor: {
        ...(typeof vf.start === 'string' ? { start: new Date(vf.start) } : {}),
        ...(typeof vf.end === 'string' ? { end: new Date(vf.end) } : {}),
      },
    };
  }
  return out;
}

/** A PEM public key (cosign `--key`); a bad key is KEY_INVALID. */
export function trustedKeyFromPem(pem: string | Buffer): TrustedKey {
  try {
    return { publicKey: createPublicKey(pem) };
  } catch (e) {
    return refuse('KEY_INVALID', `cannot read public key: ${(e as Error).message}`);
  }
}

/** The library's key lookup: a bundle's key hint → one of `keys` (or `only`, cosign `--key`), within its validity. */
export function keyFinder(keys: Readonly<Record<string, TrustedKey>>, only?: TrustedKey): KeyFinderFunc {
  return (hint: string) => {
    const k = only ?? keys[hint];
    if (!k) throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: `key not found: ${hint}` });
    const start = k.validFor?.start?.getTime() ?? Number.NEGATIVE_INFINITY;
    const end = k.validFor?.end?.getTime() ?? Number.POSITIVE_INFINITY;
    return { publicKey: k.publicKey, validFor: (d: Date) => d.getTime() >= start && d.getTime() <= end };
  };
}
