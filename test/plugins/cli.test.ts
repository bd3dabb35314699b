/** `aidops plugin …` exit codes and effects: verify offline; admit/revoke/list/show against moto. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createRegistryTable } from '../../lambdas/plugins/registry.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { type MotoServer, startMoto } from '../../local/emulator/moto.ts';
import { runCli } from '../helpers/cli.ts';
import { BEACON_SAN, CONFORMANCE_DIR, GHA_ISSUER, SIGSTORE_DIR, sha512Hex } from '../unit/plugins/vectors.ts';

const ROOT = path.join(SIGSTORE_DIR, 'roots/public-good-trusted_root.json');
const KEYS = path.join(SIGSTORE_DIR, 'roots/npm-registry-keys.json');
const A = path.join(CONFORMANCE_DIR, 'a.txt');
const B = path.join(CONFORMANCE_DIR, 'happy-path-v0.3/bundle.sigstore.json');
const tmp = mkdtempSync(path.join(tmpdir(), 'aidops-plugin-cli-'));

const cli = (...argv: string[]) => runCli(['plugin', ...argv]);

const beaconPolicy = path.join(tmp, 'beacon-policy.json');
writeFileSync(
  beaconPolicy,
  JSON.stringify({
    version: 1,
    signers: [{ kind: 'oidc', issuer: GHA_ISSUER, subject: BEACON_SAN, publisher: 'beacon' }],
    provenance: { required: false },
  }),
);
const npmPolicy = path.join(tmp, 'npm-policy.json');
writeFileSync(
  npmPolicy,
  JSON.stringify({
    version: 1,
    signers: [
      { kind: 'github-actions', repository: 'sigstore/sigstore-js', refPattern: 'refs/tags/v*' },
      { kind: 'key', keyId: 'SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA' },
    ],
    provenance: {
      predicateTypes: ['https://slsa.dev/provenance/v0.2', 'https://slsa.dev/provenance/v1'],
      builders: [{ id: 'https://github.com/npm/cli@*', slsaBuildLevel: 2 }],
      sourceRepositories: ['sigstore/sigstore-js'],
      minSlsaBuildLevel: 2,
    },
  }),
);

describe('aidops plugin verify (offline)', () => {
  it('exit 0: verified with cosign-style identity flags', async () => {
    const r = await cli(
      'verify',
      '--artifact',
      A,
      '--bundle',
      B,
      '--trusted-root',
      ROOT,
      '--certificate-identity',
      BEACON_SAN,
      '--certificate-oidc-issuer',
      GHA_ISSUER,
      '--json',
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).verdict, 'verified');
  });
  it('exit 1 with the reason: another identity, another issuer, a tampered artifact', async () => {
    const other = await cli(
      'verify',
      '--artifact',
      A,
      '--bundle',
      B,
      '--trusted-root',
      ROOT,
      '--certificate-identity',
      `${BEACON_SAN}x`,
      '--certificate-oidc-issuer',
      GHA_ISSUER,
      '--json',
    );
    assert.deepEqual([other.code, JSON.parse(other.out).reason], [1, 'IDENTITY_MISMATCH']);
    const iss = await cli(
      'verify',
      '--artifact',
      A,
      '--bundle',
      B,
      '--trusted-root',
      ROOT,
      '--certificate-identity',
      BEACON_SAN,
      '--certificate-oidc-issuer',
      'https://accounts.google.com',
    );
    assert.equal(iss.code, 1);
    assert.match(iss.err, /ISSUER_MISMATCH/);
    const tampered = path.join(tmp, 'a-tampered.txt');
    writeFileSync(tampered, 'tampered');
    const t = await cli(
      'verify',
      '--artifact',
      tampered,
      '--bundle',
      B,
      '--trusted-root',
      ROOT,
      '--certificate-identity',
      BEACON_SAN,
      '--certificate-oidc-issuer',
      GHA_ISSUER,
    );
    assert.equal(t.code, 1);
    assert.match(t.err, /DIGEST_MISMATCH/);
  });
  it('--key verifies a managed-key bundle; a wrong key file is KEY_INVALID', async () => {
    const dir = path.join(CONFORMANCE_DIR, 'managed-key-happy-path');
    const ok = await cli(
      'verify',
      '--artifact',
      A,
      '--bundle',
      path.join(dir, 'bundle.sigstore.json'),
      '--trusted-root',
      ROOT,
      '--key',
      path.join(dir, 'key.pub'),
    );
    assert.equal(ok.code, 0, ok.err);
    const bad = path.join(CONFORMANCE_DIR, 'managed-key-wrong-key_fail');
    const r = await cli(
      'verify',
      '--artifact',
      A,
      '--bundle',
      path.join(bad, 'bundle.sigstore.json'),
      '--trusted-root',
      ROOT,
      '--key',
      path.join(bad, 'key.pub'),
    );
    assert.equal(r.code, 1);
    assert.match(r.err, /KEY_INVALID/);
  });
  it('--policy over an npm attestations file by digest: allowed (0); a disallowed builder (1)', async () => {
    const file = path.join(SIGSTORE_DIR, 'npm-provenance/sigstore-1.0.0.attestations.json');
    const digest = `sha512:${sha512Hex('sigstore@1.0.0')}`;
    const ok = await cli(
      'verify',
      '--artifact-digest',
      digest,
      '--bundle',
      file,
      '--trusted-root',
      ROOT,
      '--trusted-keys',
      KEYS,
      '--policy',
      npmPolicy,
      '--json',
    );
    assert.equal(ok.code, 0, ok.out + ok.err);
    assert.equal(JSON.parse(ok.out).policy.slsaBuildLevel, 2);
    const v1 = path.join(SIGSTORE_DIR, 'npm-provenance/sigstore-2.1.0.provenance.v0.3.sigstore.json');
    const no = await cli(
      'verify',
      '--artifact-digest',
      `sha512:${sha512Hex('sigstore@2.1.0')}`,
      '--bundle',
      v1,
      '--trusted-root',
      ROOT,
      '--policy',
      npmPolicy,
      '--json',
    );
    assert.equal(no.code, 1);
    // refs/heads/main is not a tag, so the github-actions signer rule already refuses it.
    assert.equal(JSON.parse(no.out).reason, 'IDENTITY_MISMATCH');
  });
  it('exit 2: bad usage', async () => {
    for (const argv of [
      ['verify', '--artifact', A, '--bundle', B, '--trusted-root', ROOT],
      ['verify', '--artifact', A, '--bundle', B, '--trusted-root', ROOT, '--certificate-identity', BEACON_SAN],
      [
        'verify',
        '--bundle',
        B,
        '--trusted-root',
        ROOT,
        '--certificate-identity',
        'x',
        '--certificate-oidc-issuer',
        'y',
      ],
      ['verify', '--artifact', A, '--bundle', B, '--certificate-identity', 'x', '--certificate-oidc-issuer', 'y'],
      ['verify', '--artifact', A, '--bundle', '/nonexistent', '--trusted-root', ROOT, '--key', 'k'],
      ['verify', '--bogus'],
      ['frobnicate'],
    ])
      assert.equal((await cli(...argv)).code, 2, argv.join(' '));
  });
});

describe('aidops plugin admit|revoke|list|show (moto DynamoDB)', () => {
  let moto: MotoServer;
  const table = 'cli-plugins';
  before(async () => {
    moto = await startMoto();
    await createRegistryTable(new DynamoDBClient(awsClientConfig({ endpoint: moto.endpoint })), table);
  });
  after(async () => {
    await moto?.stop();
  });
  const reg = () => ['--endpoint', moto.endpoint, '--table', table];

  it('admit needs approval for a new publisher (1), then admits (0); show/list report it', async () => {
    const base = [
      'admit',
      '--plugin',
      'beacon',
      '--version',
      '1.0.0',
      '--artifact',
      A,
      '--bundle',
      B,
      '--policy',
      beaconPolicy,
      '--trusted-root',
      ROOT,
      ...reg(),
    ];
    const refused = await cli(...base);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /ForbiddenError.*approval/);
    const ok = await cli(...base, '--approved-by', 'alice', '--json');
    assert.equal(ok.code, 0, ok.err);
    assert.equal(JSON.parse(ok.out).record.publisher, 'beacon');
    const digest = `sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf`;
    const show = await cli('show', '--plugin', 'beacon', '--version', '1.0.0', '--digest', digest, '--json', ...reg());
    assert.equal(show.code, 0, show.err);
    assert.equal(JSON.parse(show.out).facts.allowed, true);
    const mismatch = await cli(
      'show',
      '--plugin',
      'beacon',
      '--version',
      '1.0.0',
      '--digest',
      `sha256:${'0'.repeat(64)}`,
      ...reg(),
    );
    assert.equal(mismatch.code, 1);
    const list = await cli('list', '--json', ...reg());
    assert.deepEqual(
      JSON.parse(list.out).map((r: { version: string }) => r.version),
      ['1.0.0'],
    );
  });

  it('admit of a tampered artifact: exit 1 with DIGEST_MISMATCH, nothing recorded', async () => {
    const tampered = path.join(tmp, 'a2.txt');
    writeFileSync(tampered, 'not the signed bytes');
    const r = await cli(
      'admit',
      '--plugin',
      'beacon',
      '--version',
      '2.0.0',
      '--artifact',
      tampered,
      '--bundle',
      B,
      '--policy',
      beaconPolicy,
      '--trusted-root',
      ROOT,
      '--approved-by',
      'alice',
      ...reg(),
    );
    assert.equal(r.code, 1);
    assert.match(r.err, /DIGEST_MISMATCH/);
    assert.equal((await cli('show', '--plugin', 'beacon', '--version', '2.0.0', ...reg())).code, 1);
  });

  it('revoke a version: show then reports revoked (exit 1); PolicyViolation events printed', async () => {
    const r = await cli(
      'revoke',
      '--plugin',
      'beacon',
      '--version',
      '1.0.0',
      '--reason',
      'bad',
      '--session',
      's-1',
      '--json',
      ...reg(),
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).violations[0].detail.type, 'policy_violation');
    const show = await cli(
      'show',
      '--plugin',
      'beacon',
      '--version',
      '1.0.0',
      '--digest',
      'sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf',
      '--json',
      ...reg(),
    );
    assert.equal(show.code, 1);
    assert.equal(JSON.parse(show.out).facts.revoked, true);
    assert.equal((await cli('revoke', '--plugin', 'nope', '--version', '1', '--reason', 'x', ...reg())).code, 1);
    assert.equal((await cli('revoke', '--plugin', 'beacon', '--reason', 'x', ...reg())).code, 2);
  });

  it('unreachable endpoint is exit 2', async () => {
    assert.equal((await cli('list', '--endpoint', 'http://127.0.0.1:9', '--table', table)).code, 2);
  });
});
