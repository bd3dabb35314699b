import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseNitroDocument } from '../../../lambdas/attestation/nitro.ts';
import { AttestationError } from '../../../lambdas/attestation/reasons.ts';
import {
  EC_SCHEME,
  importAttestedPublicKey,
  openSealed,
  RSA_SCHEME,
  sealToPublicKey,
} from '../../../lambdas/attestation/release.ts';
import { load } from './vectors.ts';

const secret = Buffer.from(JSON.stringify({ apiKey: 's3cr3t', db: 'postgres://x' }));

describe('secret release scheme', () => {
  for (const curve of ['P-256', 'P-384', 'P-521']) {
    it(`${EC_SCHEME} round-trips to a ${curve} key given as a raw point, SPKI DER and PEM`, () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const jwk = publicKey.export({ format: 'jwk' });
      const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
      for (const form of [
        point,
        publicKey.export({ format: 'der', type: 'spki' }),
        Buffer.from(publicKey.export({ format: 'pem', type: 'spki' })),
      ]) {
        const sealed = sealToPublicKey(secret, importAttestedPublicKey(form), 'session:s-1');
        assert.equal(sealed.scheme, EC_SCHEME);
        assert.deepEqual(openSealed(sealed, privateKey), secret);
      }
    });
  }

  it(`${RSA_SCHEME} round-trips to an RSA key (SPKI and PKCS#1 PEM)`, () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    for (const pem of [
      publicKey.export({ format: 'pem', type: 'spki' }),
      publicKey.export({ format: 'pem', type: 'pkcs1' }),
    ]) {
      const sealed = sealToPublicKey(secret, importAttestedPublicKey(Buffer.from(pem)), 'session:s-1');
      assert.equal(sealed.scheme, RSA_SCHEME);
      assert.deepEqual(openSealed(sealed, privateKey), secret);
    }
  });

  it('the ciphertext is bound to its context (a changed AAD fails authentication)', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const sealed = sealToPublicKey(secret, publicKey, 'session:a');
    assert.throws(() => openSealed({ ...sealed, context: 'session:b' }, privateKey));
  });

  it('imports the keys real Nitro documents carry, and refuses the ones it cannot use', () => {
    const rsa = parseNitroDocument(load('nitro-enclave/confidior-2026-07-07-us-east-2.hex')).publicKey;
    assert.equal(importAttestedPublicKey(rsa).asymmetricKeyType, 'rsa');
    const p256 = parseNitroDocument(load('nitrotpm/vaportpm-2026-02-03-us-east-1.cbor')).publicKey;
    assert.equal(importAttestedPublicKey(p256).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    for (const f of [
      'nitro-enclave/marlin-2025-04-29-ap-south-1-pcr16.cbor',
      'nitro-enclave/blocky-2024-09-07-us-east-1-maxfields.b64',
      'nitro-enclave/evervault-2022-10-13-us-east-1.cbor',
    ]) {
      const pk = parseNitroDocument(load(f)).publicKey;
      assert.throws(
        () => importAttestedPublicKey(pk),
        (e) => e instanceof AttestationError && e.reason === 'UNSUPPORTED_PUBLIC_KEY',
      );
    }
    // A point not on the curve is refused.
    const bad = Buffer.alloc(65, 7);
    bad[0] = 4;
    assert.throws(
      () => importAttestedPublicKey(bad),
      (e) => e instanceof AttestationError && e.reason === 'UNSUPPORTED_PUBLIC_KEY',
    );
  });
});
