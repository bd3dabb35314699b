import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PluginVerificationError } from '../../../lambdas/plugins/errors.ts';
import {
  bundlesOf,
  npmRegistryKeys,
  PluginVerifier,
  type TrustedKey,
  trustedKeyFromPem,
} from '../../../lambdas/plugins/verify.ts';
import {
  BEACON_SAN,
  conformanceCases,
  GHA_ISSUER,
  ghFile,
  NPM_KEYS,
  NPM_VECTORS,
  npmFile,
  PUBLIC_GOOD_ROOT,
  sha512Hex,
} from './vectors.ts';

/** The reason each conformance _fail case gets; pins the mapping so a change is deliberate. */
const EXPECTED_REASON: Record<string, string> = {
  'bundle-empty-certificate-chain_fail': 'MALFORMED_BUNDLE',
  'bundle-from-wrong-instance_fail': 'CERT_CHAIN_INVALID',
  'bundle-invalid-base64-signature_fail': 'TLOG_SET_INVALID',
  'bundle-malformed-json_fail': 'MALFORMED_BUNDLE',
  'bundle-negative-log-index_fail': 'MALFORMED_BUNDLE',
  'bundle-unknown-version_fail': 'UNSUPPORTED_MEDIA_TYPE',
  'bundle-with-root-cert_fail': 'CERT_CHAIN_INVALID',
  'checkpoint-bad-keyhint_fail': 'TLOG_INCLUSION_INVALID',
  'checkpoint-wrong-roothash_fail': 'TLOG_INCLUSION_INVALID',
  'dsse-invalid-sig_fail': 'TLOG_ENTRY_MISMATCH',
  'dsse-mismatch-envelope_fail': 'TLOG_ENTRY_MISMATCH',
  'dsse-mismatch-sig_fail': 'TLOG_ENTRY_MISMATCH',
  'inclusion-proof-corrupted-hash_fail': 'TLOG_INCLUSION_INVALID',
  'incorrect-public-key_fail': 'TLOG_SET_INVALID',
  'integrated-time-in-future_fail': 'TIMESTAMP_OUTSIDE_VALIDITY',
  'intoto-expired-certificate_fail': 'TIMESTAMP_OUTSIDE_VALIDITY',
  'intoto-log-entry-mismatch_fail': 'TLOG_ENTRY_MISMATCH',
  'intoto-missing-inclusion-proof_fail': 'TLOG_INCLUSION_MISSING',
  'intoto-set-outside-signing-cert-validity_fail': 'TIMESTAMP_OUTSIDE_VALIDITY',
  'intoto-tsa-timestamp-outside-cert-validity_fail': 'TIMESTAMP_OUTSIDE_VALIDITY',
  'invalid-checkpoint-signature_fail': 'TLOG_INCLUSION_INVALID',
  'invalid-ct-key_fail': 'SCT_INVALID',
  'invalid-inclusion-proof_fail': 'TLOG_INCLUSION_INVALID',
  'managed-key-no-key_fail': 'KEY_NOT_TRUSTED',
  'managed-key-wrong-key_fail': 'KEY_INVALID',
  'message-digest-mismatch_fail': 'TLOG_ENTRY_MISMATCH',
  'rekor2-checkpoint-missing-log-signature_fail': 'TLOG_INCLUSION_INVALID',
  'rekor2-checkpoint-missing-origin_fail': 'TLOG_INCLUSION_INVALID',
  'rekor2-checkpoint-missing-root-hash_fail': 'TLOG_INCLUSION_INVALID',
  'rekor2-checkpoint-missing-size_fail': 'TLOG_INCLUSION_INVALID',
  'rekor2-checkpoint-no-matching-signature_fail': 'TLOG_INCLUSION_INVALID',
  'rekor2-dsse-invalid-sig_fail': 'TLOG_ENTRY_MISMATCH',
  'rekor2-dsse-mismatch-envelope_fail': 'TLOG_ENTRY_MISMATCH',
  'rekor2-dsse-mismatch-sig_fail': 'TLOG_ENTRY_MISMATCH',
  'rekor2-no-inclusion-proof_fail': 'TLOG_INCLUSION_MISSING',
  'rekor2-no-timestamp_fail': 'TIMESTAMP_MISSING',
  'rekor2-timestamp-outside-trust-root-tsa-validity_fail': 'TIMESTAMP_INVALID',
  'rekor2-timestamp-outside-tsa-cert-validity_fail': 'TIMESTAMP_INVALID',
  'rekor2-timestamp-payload-mismatch_fail': 'TIMESTAMP_INVALID',
  'rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail': 'TIMESTAMP_INVALID',
  'rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail': 'TIMESTAMP_INVALID',
  'rekor2-timestamp-with-incorrect-time_fail': 'TIMESTAMP_OUTSIDE_VALIDITY',
  'set-invalid-signature_fail': 'TLOG_SET_INVALID',
  'signature-mismatch_fail': 'TLOG_ENTRY_MISMATCH',
  'trust-root-tlog-missing-validity-start_fail': 'TRUSTED_ROOT_INVALID',
  'wrong-hashedrekord-artifact_fail': 'TLOG_ENTRY_MISMATCH',
  'wrong-hashedrekord-cert-and-sig_fail': 'TLOG_ENTRY_MISMATCH',
  'wrong-hashedrekord-entry_fail': 'TLOG_ENTRY_MISMATCH',
  'wrong-material_fail': 'DIGEST_MISMATCH',
};

function rejects(fn: () => unknown, reason: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(
      e instanceof PluginVerificationError,
      `expected PluginVerificationError, got ${(e as Error)?.name}: ${(e as Error)?.message}`,
    );
    assert.equal(e.name, 'PluginVerificationError');
    assert.equal(e.reason, reason, e.message);
    return true;
  });
}

const pg = PluginVerifier.fromTrustedRoot(PUBLIC_GOOD_ROOT, npmRegistryKeys(NPM_KEYS));

describe('conformance vectors (offline, each against its own or the public-good root)', () => {
  const cases = conformanceCases();
  it('finds all 70 cases', () => assert.equal(cases.length, 70));
  for (const c of cases) {
    it(`${c.name} ${c.mustFail ? 'fails' : 'verifies'}`, () => {
      const run = () => {
        const v = c.ownRoot ? PluginVerifier.fromTrustedRoot(c.root) : pg;
        const key: TrustedKey | undefined = c.keyPem ? trustedKeyFromPem(c.keyPem) : undefined;
        return v.verify(
          c.bundle,
          { bytes: c.artifact },
          key
            ? { key }
            : c.name.startsWith('managed-key')
              ? {}
              : { identity: { subjectAlternativeName: c.identity, issuer: c.issuer } },
        );
      };
      if (c.mustFail) rejects(run, EXPECTED_REASON[c.name] ?? 'missing expectation');
      else {
        const r = run();
        assert.ok(r.artifactDigest.sha256 || r.artifactDigest.sha512);
        assert.ok(!Number.isNaN(Date.parse(r.signedAt)));
      }
    });
  }
});

describe('npm provenance vectors (public-good root + npm registry keys)', () => {
  for (const v of NPM_VECTORS) {
    const bundles = bundlesOf(npmFile(v.file));
    it(`${v.file}: ${v.verdicts.join(', ')}`, () => {
      assert.equal(bundles.length, v.verdicts.length);
      bundles.forEach((b, i) => {
        const want = v.verdicts[i];
        const run = () => pg.verify(b, { digests: { sha512: sha512Hex(v.pkg) } });
        if (want === true) {
          const r = run();
          assert.equal(r.content, 'dsseEnvelope');
          assert.equal(r.artifactDigest.sha512, sha512Hex(v.pkg));
          assert.equal(r.statement?.subject[0]?.name, `pkg:npm/${v.pkg}`);
        } else rejects(run, want as string);
      });
    });
  }

  it('sigstore@0.4.0 provenance: signer SAN and v1 certificate extensions', () => {
    const [prov, publish] = bundlesOf(npmFile('sigstore-0.4.0.attestations.json'));
    const r = pg.verify(prov, { digests: { sha512: sha512Hex('sigstore@0.4.0') } });
    assert.equal(
      r.signer.subjectAlternativeName,
      'https://github.com/sigstore/sigstore-js/.github/workflows/publish.yml@refs/tags/v0.4.0',
    );
    assert.equal(r.signer.issuer, GHA_ISSUER);
    assert.equal(r.signer.extensions.githubWorkflowRepository, 'sigstore/sigstore-js');
    assert.equal(r.signer.extensions.githubWorkflowSha, '8a2ee2fd20dda58ffa4a8d808a65cb1e04711c03');
    assert.equal(r.signedAt, '2023-01-11T17:31:52.000Z');
    assert.equal(r.mediaType, 'application/vnd.dev.sigstore.bundle+json;version=0.1');
    const p = pg.verify(publish, { digests: { sha512: sha512Hex('sigstore@0.4.0') } });
    assert.equal(p.signer.kind, 'key');
    assert.equal(p.signer.keyHint, 'SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA');
  });

  it('sigstore@2.1.0 v0.3 bundle: v2 certificate extensions (DER UTF8String)', () => {
    const r = pg.verify(npmFile('sigstore-2.1.0.provenance.v0.3.sigstore.json'), {
      digests: { sha512: sha512Hex('sigstore@2.1.0') },
    });
    assert.equal(r.signer.extensions.sourceRepositoryURI, 'https://github.com/sigstore/sigstore-js');
    assert.equal(r.signer.extensions.sourceRepositoryRef, 'refs/heads/main');
    assert.equal(r.signer.extensions.sourceRepositoryDigest, '26d16513386ffaa790b1c32f927544f1322e4194');
    assert.equal(r.signer.extensions.buildTrigger, 'push');
    assert.equal(r.signedAt, '2023-08-29T15:40:23.000Z');
  });

  it('publish attestation without the npm keys: KEY_NOT_TRUSTED', () => {
    const bare = PluginVerifier.fromTrustedRoot(PUBLIC_GOOD_ROOT);
    const [, publish] = bundlesOf(npmFile('sigstore-1.0.0.attestations.json'));
    rejects(() => bare.verify(publish, { digests: { sha512: sha512Hex('sigstore@1.0.0') } }), 'KEY_NOT_TRUSTED');
  });

  it('a key valid only before the signing time: TIMESTAMP_OUTSIDE_VALIDITY', () => {
    const keys = npmRegistryKeys(NPM_KEYS);
    const k = keys['SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA'] as TrustedKey;
    const expired = { publicKey: k.publicKey, validFor: { end: new Date('2022-12-31T00:00:00Z') } };
    const [, publish] = bundlesOf(npmFile('sigstore-1.0.0.attestations.json'));
    rejects(
      () =>
        pg.verify(
          publish,
          { digests: { sha512: sha512Hex('sigstore@1.0.0') } },
          { keys: { 'SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA': expired } },
        ),
      'TIMESTAMP_OUTSIDE_VALIDITY',
    );
  });
});

describe('github attestations (public-good)', () => {
  it('reusable workflow: verifies with the reusable SAN; the caller workflow as SAN is IDENTITY_MISMATCH', () => {
    const b = ghFile('reusable-workflow-attestation.sigstore.json');
    const art = { digests: { sha256: '49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25' } };
    const r = pg.verify(b, art, {
      identity: {
        subjectAlternativeName:
          'https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@09b495c3f12c7881b3cc17209a327792065c1a1d',
        issuer: GHA_ISSUER,
      },
    });
    assert.equal(r.signer.extensions.sourceRepositoryURI, 'https://github.com/malancas/attest-demo');
    rejects(
      () =>
        pg.verify(b, art, {
          identity: {
            subjectAlternativeName:
              'https://github.com/malancas/attest-demo/.github/workflows/shared.yml@refs/heads/main',
          },
        }),
      'IDENTITY_MISMATCH',
    );
  });

  it('custom issuer: verifies with its issuer; the standard issuer is ISSUER_MISMATCH', () => {
    const b = ghFile('custom-issuer.sigstore.json');
    const art = { bytes: ghFile('custom-issuer-artifact') };
    const san = 'https://github.com/too-legit/attest/.github/workflows/integration.yml@refs/heads/main';
    pg.verify(b, art, { identity: { subjectAlternativeName: san, issuer: `${GHA_ISSUER}/hammer-time` } });
    rejects(
      () => pg.verify(b, art, { identity: { subjectAlternativeName: san, issuer: GHA_ISSUER } }),
      'ISSUER_MISMATCH',
    );
  });
});

describe('derived negatives (one change each, at run time)', () => {
  const happy = conformanceCases().find((c) => c.name === 'happy-path-v0.3');
  const dsse = conformanceCases().find((c) => c.name === 'happy-path-intoto-in-dsse-v3');
  assert.ok(happy && dsse);

  it('a changed byte of the artifact (message signature): DIGEST_MISMATCH', () => {
    const art = Buffer.from(happy.artifact);
    art[0] = (art[0] ?? 0) ^ 0x01;
    rejects(() => pg.verify(happy.bundle, { bytes: art }), 'DIGEST_MISMATCH');
  });

  it('a changed byte of the artifact (DSSE subject): DIGEST_MISMATCH', () => {
    const art = Buffer.from(dsse.artifact);
    art[art.length - 1] = (art[art.length - 1] ?? 0) ^ 0x01;
    rejects(() => pg.verify(dsse.bundle, { bytes: art }), 'DIGEST_MISMATCH');
    const d = sha512Hex('sigstore@2.1.0').replace(/^./, (c) => (c === '0' ? '1' : '0'));
    rejects(
      () => pg.verify(npmFile('sigstore-2.1.0.provenance.v0.3.sigstore.json'), { digests: { sha512: d } }),
      'DIGEST_MISMATCH',
    );
  });

  it('SAN is exact, never a prefix or substring (the library regex pitfall)', () => {
    const b = bundlesOf(npmFile('sigstore-1.0.0.attestations.json'))[0];
    const art = { digests: { sha512: sha512Hex('sigstore@1.0.0') } };
    for (const san of [
      'https://github.com/sigstore/sigstore-js/.github/workflows/publish.yml@refs/tags/v1',
      'sigstore/sigstore-js',
    ])
      rejects(() => pg.verify(b, art, { identity: { subjectAlternativeName: san } }), 'IDENTITY_MISMATCH');
  });

  it('expecting another SAN or issuer on happy-path-v0.3', () => {
    rejects(
      () =>
        pg.verify(
          happy.bundle,
          { bytes: happy.artifact },
          { identity: { subjectAlternativeName: BEACON_SAN.replace('main', 'evil') } },
        ),
      'IDENTITY_MISMATCH',
    );
    rejects(
      () => pg.verify(happy.bundle, { bytes: happy.artifact }, { identity: { issuer: 'https://accounts.google.com' } }),
      'ISSUER_MISMATCH',
    );
  });

  it('happy-path-v0.3 against an empty trusted root: CERT_CHAIN_INVALID', () => {
    const empty = PluginVerifier.fromTrustedRoot({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [],
      certificateAuthorities: [],
      ctlogs: [],
      timestampAuthorities: [],
    });
    rejects(() => empty.verify(happy.bundle, { bytes: happy.artifact }), 'CERT_CHAIN_INVALID');
  });

  it('a DSSE payloadType other than in-toto is refused even when signed', () => {
    // The BAD file's edited payloadType breaks the PAE first; the signature check wins.
    const [, bad] = bundlesOf(npmFile('BAD-sigstore-0.4.0.publish-payloadtype-edited.attestations.json'));
    rejects(() => pg.verify(bad, { digests: { sha512: sha512Hex('sigstore@0.4.0') } }), 'SIGNATURE_INVALID');
  });

  it('message-signature bundle without artifact bytes: ARTIFACT_REQUIRED', () => {
    rejects(() => pg.verify(happy.bundle, { digests: { sha256: 'a'.repeat(64) } }), 'ARTIFACT_REQUIRED');
  });

  it('--key given but the bundle has a certificate: KEY_NOT_TRUSTED', () => {
    const k = conformanceCases().find((c) => c.name === 'managed-key-happy-path');
    assert.ok(k?.keyPem);
    rejects(
      () => pg.verify(happy.bundle, { bytes: happy.artifact }, { key: trustedKeyFromPem(k.keyPem as Buffer) }),
      'KEY_NOT_TRUSTED',
    );
  });

  it('garbage trusted roots: TRUSTED_ROOT_INVALID', () => {
    for (const r of ['not json', '[]', '{}', JSON.stringify({ mediaType: 'x' })])
      rejects(() => PluginVerifier.fromTrustedRoot(r), 'TRUSTED_ROOT_INVALID');
  });
});

describe('hostile bytes never escape as an untyped throw', () => {
  const sources = [
    conformanceCases().find((c) => c.name === 'happy-path-v0.1'),
    conformanceCases().find((c) => c.name === 'happy-path-intoto-in-dsse-v3'),
    conformanceCases().find((c) => c.name === 'happy-path-v0.3'),
  ].filter((c) => c !== undefined);

  it('random byte edits of real bundles → a verdict or PluginVerificationError (600 runs)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: sources.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (which, edits) => {
          const c = sources[which] as (typeof sources)[number];
          const b = Buffer.from(c.bundle);
          for (const [pos, byte] of edits) b[pos % b.length] = byte;
          try {
            pg.verify(b, { bytes: c.artifact });
          } catch (e) {
            if (!(e instanceof PluginVerificationError)) throw e;
          }
        },
      ),
      { numRuns: 600 },
    );
  });

  it('random JSON values as bundles → PluginVerificationError (400 runs)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        assert.throws(() => pg.verify(v, { bytes: Buffer.from('x') }), PluginVerificationError);
      }),
      { numRuns: 400 },
    );
  });

  it('structurally mutated bundles (fields swapped for random JSON) → PluginVerificationError or verdict (300 runs)', () => {
    const base = JSON.parse((sources[0] as (typeof sources)[number]).bundle.toString());
    const paths = [
      ['verificationMaterial'],
      ['verificationMaterial', 'tlogEntries'],
      ['verificationMaterial', 'tlogEntries', 0, 'inclusionPromise'],
      ['verificationMaterial', 'tlogEntries', 0, 'kindVersion'],
      ['verificationMaterial', 'tlogEntries', 0, 'canonicalizedBody'],
      ['verificationMaterial', 'x509CertificateChain', 'certificates', 0],
      ['messageSignature', 'messageDigest'],
      ['messageSignature', 'signature'],
    ] as const;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: paths.length - 1 }), fc.jsonValue(), (pi, val) => {
        const b = structuredClone(base);
        const p = paths[pi] as readonly (string | number)[];
        let o = b;
        for (const k of p.slice(0, -1)) o = o?.[k];
        if (o && typeof o === 'object') o[p[p.length - 1] as string] = val;
        try {
          pg.verify(b, { bytes: (sources[0] as (typeof sources)[number]).artifact });
        } catch (e) {
          if (!(e instanceof PluginVerificationError)) throw e;
        }
      }),
      { numRuns: 300 },
    );
  });
});
