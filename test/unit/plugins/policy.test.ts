import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PluginVerificationError } from '../../../lambdas/plugins/errors.ts';
import { evaluatePolicy, globMatch, parseTrustPolicy, type TrustPolicyInput } from '../../../lambdas/plugins/policy.ts';
import {
  normalizeRepoUri,
  provenanceFacts,
  SLSA_PROVENANCE_V1,
  SLSA_PROVENANCE_V02,
} from '../../../lambdas/plugins/provenance.ts';
import { bundlesOf, npmRegistryKeys, PluginVerifier, type VerifiedBundle } from '../../../lambdas/plugins/verify.ts';
import { ValidationError } from '../../../lambdas/shared/errors.ts';
import { NPM_KEYS, npmFile, PUBLIC_GOOD_ROOT, sha512Hex } from './vectors.ts';

const pg = PluginVerifier.fromTrustedRoot(PUBLIC_GOOD_ROOT, npmRegistryKeys(NPM_KEYS));
const NPM_KEY = 'SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA';

const verifyAll = (file: string, pkg: string): VerifiedBundle[] =>
  bundlesOf(npmFile(file)).map((b) => pg.verify(b, { digests: { sha512: sha512Hex(pkg) } }));

const v040 = verifyAll('sigstore-0.4.0.attestations.json', 'sigstore@0.4.0');
const v210 = verifyAll('sigstore-2.1.0.provenance.v0.3.sigstore.json', 'sigstore@2.1.0');

const base: TrustPolicyInput = {
  version: 1,
  signers: [
    { kind: 'github-actions', repository: 'sigstore/sigstore-js', refPattern: 'refs/*' },
    { kind: 'key', keyId: NPM_KEY, publisher: 'npm-registry' },
  ],
  provenance: {
    predicateTypes: [SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1],
    builders: [
      { id: 'https://github.com/npm/cli@*', slsaBuildLevel: 2 },
      { id: 'https://github.com/actions/runner/github-hosted', slsaBuildLevel: 2 },
    ],
    sourceRepositories: ['sigstore/sigstore-js'],
    sourceRefs: ['refs/tags/v*', 'refs/heads/main'],
    minSlsaBuildLevel: 2,
  },
};
const policy = (patch: (p: TrustPolicyInput) => void = () => undefined) => {
  const p = structuredClone(base);
  patch(p);
  return parseTrustPolicy(p);
};

function denies(fn: () => unknown, reason: string): void {
  assert.throws(fn, (e: unknown) =>
    e instanceof PluginVerificationError && e.reason === reason ? true : assert.fail(String(e)),
  );
}

describe('provenance facts: SLSA v0.2 and v1 read the same facts from different fields', () => {
  it('v0.2 (sigstore@0.4.0)', () => {
    const f = provenanceFacts(v040[0]?.statement as NonNullable<VerifiedBundle['statement']>);
    assert.equal(f.builderId, 'https://github.com/npm/cli@9.2.0');
    assert.equal(f.buildType, 'https://github.com/npm/cli/gha@v0');
    assert.equal(f.sourceRepository, 'https://github.com/sigstore/sigstore-js');
    assert.equal(f.sourceRef, 'refs/tags/v0.4.0');
    assert.equal(f.sourceCommit, '8a2ee2fd20dda58ffa4a8d808a65cb1e04711c03');
    assert.equal(f.workflowPath, '.github/workflows/publish.yml');
  });
  it('v1 (sigstore@2.1.0)', () => {
    const f = provenanceFacts(v210[0]?.statement as NonNullable<VerifiedBundle['statement']>);
    assert.equal(f.builderId, 'https://github.com/actions/runner/github-hosted');
    assert.equal(f.sourceRepository, 'https://github.com/sigstore/sigstore-js');
    assert.equal(f.sourceRef, 'refs/heads/main');
    assert.equal(f.sourceCommit, '26d16513386ffaa790b1c32f927544f1322e4194');
    assert.equal(f.workflowPath, '.github/workflows/release.yml');
  });
  it('normalizes repository URIs', () => {
    assert.deepEqual(normalizeRepoUri('git+https://github.com/o/r.git@refs/tags/v1'), {
      repo: 'https://github.com/o/r',
      ref: 'refs/tags/v1',
    });
    assert.deepEqual(normalizeRepoUri('o/r'), { repo: 'https://github.com/o/r' });
  });
  it('globs are anchored and literal apart from *', () => {
    assert.ok(globMatch('refs/tags/v*', 'refs/tags/v1.0.0'));
    assert.ok(!globMatch('refs/tags/v*', 'xrefs/tags/v1'));
    assert.ok(!globMatch('https://github.com/npm/cli@9.2.0', 'https://github.com/npm/cli@9x2x0'));
  });
});

describe('policy evaluation over real verified bundles', () => {
  it('admits sigstore@0.4.0 (v0.2 provenance + npm publish attestation) at SLSA L2', () => {
    const d = evaluatePolicy(policy(), v040);
    assert.equal(d.publisher, 'github:sigstore/sigstore-js');
    assert.equal(d.slsaBuildLevel, 2);
    assert.equal(d.provenance?.predicateType, SLSA_PROVENANCE_V02);
  });
  it('admits sigstore@2.1.0 (v1 provenance) and every other good npm vector', () => {
    assert.equal(evaluatePolicy(policy(), v210).provenance?.sourceRef, 'refs/heads/main');
    for (const [f, pkg] of [
      ['sigstore-1.0.0.attestations.json', 'sigstore@1.0.0'],
      ['sigstore-2.2.0.provenance.v0.2.sigstore.json', 'sigstore@2.2.0'],
      ['sigstore-2.2.0.provenance.v0.3-rewrapped.sigstore.json', 'sigstore@2.2.0'],
      ['sigstore-2.1.0.provenance.v0.1.sigstore.json', 'sigstore@2.1.0'],
    ] as const)
      evaluatePolicy(policy(), verifyAll(f, pkg));
  });
  it('another identity (tuf-js under a sigstore-js policy): IDENTITY_MISMATCH', () => {
    denies(
      () => evaluatePolicy(policy(), verifyAll('tuf-js-1.0.0.attestations.json', 'tuf-js@1.0.0')),
      'IDENTITY_MISMATCH',
    );
  });
  it('signer repository pinned to evil/sigstore-js: IDENTITY_MISMATCH', () => {
    denies(
      () =>
        evaluatePolicy(
          policy((p) => Object.assign(p.signers[0] as object, { repository: 'evil/sigstore-js' })),
          v210,
        ),
      'IDENTITY_MISMATCH',
    );
  });
  it('oidc signer with another issuer: ISSUER_MISMATCH', () => {
    denies(
      () =>
        evaluatePolicy(
          policy((p) => {
            p.signers = [{ kind: 'oidc', issuer: 'https://accounts.google.com', subjectRegex: '.*' }];
          }),
          v210,
        ),
      'ISSUER_MISMATCH',
    );
  });
  it('oidc subjectRegex is anchored', () => {
    const re = (subjectRegex: string) =>
      policy((p) => {
        p.signers = [{ kind: 'oidc', issuer: 'https://token.actions.githubusercontent.com', subjectRegex }];
      });
    denies(() => evaluatePolicy(re('sigstore/sigstore-js'), v210), 'IDENTITY_MISMATCH');
    evaluatePolicy(
      re('https://github\\.com/sigstore/sigstore-js/\\.github/workflows/release\\.yml@refs/heads/main'),
      v210,
    );
  });
  it('provenance from a disallowed repository: PROVENANCE_REPO_NOT_ALLOWED', () => {
    const p = policy((x) => {
      x.signers = [{ kind: 'oidc', issuer: 'https://token.actions.githubusercontent.com', subjectRegex: '.*' }];
      (x.provenance as { sourceRepositories: string[] }).sourceRepositories = ['evil/sigstore-js'];
    });
    denies(() => evaluatePolicy(p, v210), 'PROVENANCE_REPO_NOT_ALLOWED');
  });
  it('provenance from a disallowed ref: PROVENANCE_REF_NOT_ALLOWED', () => {
    denies(
      () =>
        evaluatePolicy(
          policy((x) => ((x.provenance as { sourceRefs: string[] }).sourceRefs = ['refs/tags/*'])),
          v210,
        ),
      'PROVENANCE_REF_NOT_ALLOWED',
    );
  });
  it('a disallowed builder: BUILDER_NOT_ALLOWED', () => {
    const p = policy((x) => {
      (x.provenance as { builders: unknown[] }).builders = [{ id: 'https://github.com/npm/cli@*', slsaBuildLevel: 2 }];
    });
    denies(() => evaluatePolicy(p, v210), 'BUILDER_NOT_ALLOWED');
  });
  it('builder below the minimum level: SLSA_LEVEL_TOO_LOW', () => {
    const p = policy((x) => ((x.provenance as { minSlsaBuildLevel: number }).minSlsaBuildLevel = 3));
    denies(() => evaluatePolicy(p, v210), 'SLSA_LEVEL_TOO_LOW');
  });
  it('a predicate type the policy does not accept (v0.2 only; bundle is v1): PREDICATE_TYPE_NOT_ALLOWED', () => {
    const p = policy((x) => ((x.provenance as { predicateTypes: string[] }).predicateTypes = [SLSA_PROVENANCE_V02]));
    denies(() => evaluatePolicy(p, v210), 'PREDICATE_TYPE_NOT_ALLOWED');
  });
  it('an unknown predicate type on a verified certificate-signed statement: PREDICATE_TYPE_NOT_ALLOWED', () => {
    const v = v210[0] as VerifiedBundle;
    const st = v.statement as NonNullable<VerifiedBundle['statement']>;
    const odd = { ...v, statement: { ...st, predicateType: 'https://example.com/unknown-predicate/v1' } };
    denies(() => evaluatePolicy(policy(), [odd]), 'PREDICATE_TYPE_NOT_ALLOWED');
  });
  it('npm publish attestation without a key rule: SIGNER_NOT_ALLOWED', () => {
    denies(
      () =>
        evaluatePolicy(
          policy((x) => (x.signers = [x.signers[0] as (typeof x.signers)[0]])),
          v040,
        ),
      'SIGNER_NOT_ALLOWED',
    );
  });
  it('no provenance when required: PROVENANCE_MISSING', () => {
    const p = policy((x) => {
      x.signers = [{ kind: 'key', keyId: NPM_KEY }];
    });
    denies(() => evaluatePolicy(p, [v040[1] as VerifiedBundle]), 'PROVENANCE_MISSING');
  });
  it('rejects a bad policy document with field paths', () => {
    assert.throws(
      () => parseTrustPolicy({ version: 1, signers: [{ kind: 'oidc', issuer: 'nope' }] }),
      (e: unknown) => e instanceof ValidationError && /signers/.test(e.message),
    );
    assert.throws(() => parseTrustPolicy('{not json'), ValidationError);
    assert.throws(
      () => parseTrustPolicy({ version: 1, signers: [{ kind: 'oidc', issuer: 'https://x', subjectRegex: '(' }] }),
      ValidationError,
    );
  });
});
