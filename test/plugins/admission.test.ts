/**
 * Registry, admission steps and the trusted-root cache against moto (DynamoDB, S3),
 * with real Sigstore vectors: a real signed artifact is admitted, a tampered one refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { recordAdmission, revokePlugin, verifyStaged } from '../../lambdas/plugins/admission.ts';
import { TrustedRootStaleError } from '../../lambdas/plugins/errors.ts';
import { parseTrustPolicy, type TrustPolicy } from '../../lambdas/plugins/policy.ts';
import { createRegistryTable, PluginRegistry } from '../../lambdas/plugins/registry.ts';
import { FETCHED_AT_META, loadTrustedRoot, refreshTrustedRoot } from '../../lambdas/plugins/trusted-root.ts';
import { PluginVerifier } from '../../lambdas/plugins/verify.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { ConflictError, ForbiddenError, NotFoundError } from '../../lambdas/shared/errors.ts';
import { type MotoServer, startMoto } from '../../local/emulator/moto.ts';
import { BEACON_SAN, conformanceCases, GHA_ISSUER, PUBLIC_GOOD_ROOT } from '../unit/plugins/vectors.ts';

const TABLE = 'plugin-registry';
const BUCKET = 'plugin-staging';
let moto: MotoServer;
let s3: S3Client;
let ddb: DynamoDBClient;
let registry: PluginRegistry;
let verifier: PluginVerifier;

const happy = conformanceCases().find((c) => c.name === 'happy-path-v0.3');
const dsse = conformanceCases().find((c) => c.name === 'happy-path-intoto-in-dsse-v3');
assert.ok(happy && dsse);

const policy: TrustPolicy = parseTrustPolicy({
  version: 1,
  signers: [{ kind: 'oidc', issuer: GHA_ISSUER, subject: BEACON_SAN, publisher: 'sigstore-conformance' }],
  provenance: {
    required: false,
    predicateTypes: ['https://slsa.dev/provenance/v1'],
    builders: [{ id: '*', slsaBuildLevel: 1 }],
  },
  newPublisherNeedsApproval: true,
  admissionTtlDays: 30,
});

const put = (key: string, body: Buffer) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

before(async () => {
  moto = await startMoto();
  s3 = new S3Client(awsClientConfig({ endpoint: moto.endpoint }));
  ddb = new DynamoDBClient(awsClientConfig({ endpoint: moto.endpoint }));
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await createRegistryTable(ddb, TABLE);
  registry = new PluginRegistry(ddb, { tableName: TABLE });
  verifier = PluginVerifier.fromTrustedRoot(PUBLIC_GOOD_ROOT);
});
after(async () => {
  await moto?.stop();
});

describe('trusted root cache (S3)', () => {
  it('refresh writes the root with its fetch time; load returns it and it verifies a bundle', async () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const r = await refreshTrustedRoot(s3, { bucket: BUCKET }, async () => JSON.parse(PUBLIC_GOOD_ROOT.toString()), t0);
    assert.equal(r.key, 'sigstore/trusted_root.json');
    const loaded = await loadTrustedRoot(s3, { bucket: BUCKET }, { now: new Date('2026-01-02T00:00:00Z') });
    assert.equal(loaded.fetchedAt.toISOString(), t0.toISOString());
    const v = PluginVerifier.fromTrustedRoot(loaded.json);
    assert.equal(v.verify(happy.bundle, { bytes: happy.artifact }).signer.subjectAlternativeName, BEACON_SAN);
  });
  it('a stale cached root is refused with TrustedRootStaleError', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'stale/trusted_root.json',
        Body: PUBLIC_GOOD_ROOT,
        Metadata: { [FETCHED_AT_META]: '2025-11-01T00:00:00.000Z' },
      }),
    );
    await assert.rejects(
      loadTrustedRoot(
        s3,
        { bucket: BUCKET, key: 'stale/trusted_root.json' },
        { now: new Date('2026-01-01T00:00:00Z') },
      ),
      (e: unknown) =>
        e instanceof TrustedRootStaleError &&
        e.name === 'TrustedRootStaleError' &&
        /fetched 2025-11-01/.test(e.message),
    );
    // The same object within a larger max age is fine.
    await loadTrustedRoot(
      s3,
      { bucket: BUCKET, key: 'stale/trusted_root.json' },
      { now: new Date('2026-01-01T00:00:00Z'), maxAgeMs: 90 * 86_400_000 },
    );
  });
  it('without fetched-at metadata the object LastModified is the age; missing root is NotFoundError', async () => {
    await put('nometa/trusted_root.json', PUBLIC_GOOD_ROOT);
    await assert.rejects(
      loadTrustedRoot(
        s3,
        { bucket: BUCKET, key: 'nometa/trusted_root.json' },
        { now: new Date(Date.now() + 8 * 86_400_000) },
      ),
      TrustedRootStaleError,
    );
    await loadTrustedRoot(s3, { bucket: BUCKET, key: 'nometa/trusted_root.json' });
    await assert.rejects(loadTrustedRoot(s3, { bucket: BUCKET, key: 'none.json' }), NotFoundError);
  });
});

describe('admission steps and registry', () => {
  const now = new Date('2026-03-01T12:00:00Z');
  const deps = () => ({ s3, verifier, policy, registry, now: () => now });

  it('a tampered artifact is refused (DIGEST_MISMATCH) with a deny decision event', async () => {
    const bad = Buffer.from(happy.artifact);
    bad[5] = (bad[5] ?? 0) ^ 0x20;
    await put('staging/tampered/a.txt', bad);
    await put('staging/tampered/a.txt.sigstore.json', happy.bundle);
    const r = await verifyStaged(deps(), {
      bucket: BUCKET,
      key: 'staging/tampered/a.txt',
      bundleKey: 'staging/tampered/a.txt.sigstore.json',
      pluginId: 'beacon-plugin',
      version: '0.0.1',
    });
    assert.equal(r.verdict, 'reject');
    assert.equal(r.reason, 'DIGEST_MISMATCH');
    assert.equal(r.decision.kind, 'decision');
    assert.equal(r.decision.detail.outcome, 'deny');
    assert.equal(r.decision.detail.reasons[0], 'DIGEST_MISMATCH');
  });

  it('a DSSE provenance naming another repository than its signing certificate: PROVENANCE_MISMATCH', async () => {
    await put('staging/dsse/a.txt', dsse.artifact);
    await put('staging/dsse/bundle.json', dsse.bundle);
    const r = await verifyStaged(deps(), {
      bucket: BUCKET,
      key: 'staging/dsse/a.txt',
      bundleKey: 'staging/dsse/bundle.json',
      pluginId: 'beacon-plugin',
      version: '0.0.2',
    });
    assert.equal(r.reason, 'PROVENANCE_MISMATCH');
  });

  it('a real signed artifact verifies; the new publisher needs approval; record refuses without it', async () => {
    await put('staging/good/a.txt', happy.artifact);
    await put('staging/good/a.txt.sigstore.json', happy.bundle);
    const r = await verifyStaged(deps(), {
      bucket: BUCKET,
      key: 'staging/good/a.txt',
      bundleKey: 'staging/good/a.txt.sigstore.json',
      pluginId: 'beacon-plugin',
      version: '1.0.0',
    });
    assert.equal(r.verdict, 'admit', r.message);
    assert.equal(r.needsApproval, true);
    assert.equal(r.facts?.digest, 'sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf');
    assert.equal(r.facts?.publisher, 'sigstore-conformance');
    assert.equal(r.decision.detail.outcome, 'allow');
    const facts = r.facts as NonNullable<typeof r.facts>;
    await assert.rejects(recordAdmission(deps(), { facts, admittedBy: 'admission-workflow' }), ForbiddenError);
    assert.equal(await registry.get('beacon-plugin', '1.0.0'), undefined);

    const rec = await recordAdmission(deps(), {
      facts,
      admittedBy: 'admission-workflow',
      approvedBy: 'alice@example.com',
    });
    assert.equal(rec.record.status, 'admitted');
    assert.equal(rec.record.expiresAt, '2026-03-31T12:00:00.000Z');
    assert.equal(rec.decision.detail.outcome, 'allow');
    const stored = await registry.get('beacon-plugin', '1.0.0');
    assert.equal(stored?.approvedBy, 'alice@example.com');
    assert.equal(
      (stored?.signer as { subjectAlternativeName?: string } | undefined)?.subjectAlternativeName,
      BEACON_SAN,
    );
    assert.equal((await registry.getPublisher('sigstore-conformance'))?.approvedBy, 'alice@example.com');
  });

  it('isAllowed: admitted + digest match allowed; digest mismatch, expiry and unknown denied', async () => {
    const digest = 'sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf';
    const fresh = new PluginRegistry(ddb, { tableName: TABLE, cacheTtlMs: 0 });
    const ok = await fresh.isAllowed('beacon-plugin', '1.0.0', digest, now);
    assert.deepEqual(
      [ok.admitted, ok.revoked, ok.expired, ok.digestMatches, ok.allowed],
      [true, false, false, true, true],
    );
    const wrong = await fresh.isAllowed('beacon-plugin', '1.0.0', `sha256:${'0'.repeat(64)}`, now);
    assert.deepEqual([wrong.digestMatches, wrong.allowed], [false, false]);
    const late = await fresh.isAllowed('beacon-plugin', '1.0.0', digest, new Date('2026-04-01T00:00:00Z'));
    assert.deepEqual([late.expired, late.allowed], [true, false]);
    const none = await fresh.isAllowed('beacon-plugin', '9.9.9', digest, now);
    assert.deepEqual([none.admitted, none.allowed], [false, false]);
  });

  it('second version of a known publisher needs no approval; same version with another digest is refused', async () => {
    await put('staging/good2/a.txt', happy.artifact);
    const r = await verifyStaged(deps(), {
      bucket: BUCKET,
      key: 'staging/good2/a.txt',
      bundleKey: 'staging/good/a.txt.sigstore.json',
      pluginId: 'beacon-plugin',
      version: '1.0.1',
    });
    assert.equal(r.needsApproval, false);
    await recordAdmission(deps(), { facts: r.facts as NonNullable<typeof r.facts>, admittedBy: 'admission-workflow' });
    const { signedAt: _s, bundles: _b, ...facts } = r.facts as NonNullable<typeof r.facts>;
    await assert.rejects(
      registry.admit({
        ...facts,
        digest: `sha256:${'1'.repeat(64)}`,
        admittedBy: 'x',
        admittedAt: now.toISOString(),
        expiresAt: now.toISOString(),
      }),
      ConflictError,
    );
  });

  it('revoking a version: denied at once by a fresh reader, within the 30 s cache bound by a warm one; PolicyViolation per session', async () => {
    const digest = 'sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf';
    let t = 1_000_000;
    const warm = new PluginRegistry(ddb, { tableName: TABLE, clock: () => t });
    assert.equal((await warm.isAllowed('beacon-plugin', '1.0.0', digest, now)).allowed, true);

    const res = await revokePlugin(
      { registry, now: () => now },
      {
        pluginId: 'beacon-plugin',
        version: '1.0.0',
        by: 'bob',
        reason: 'CVE-2026-0001',
        sessionIds: ['sess-1', 'sess-2'],
      },
    );
    assert.equal(res.revoked.versions[0]?.status, 'revoked');
    assert.equal(res.violations.length, 2);
    assert.deepEqual(
      res.violations.map((v) => [v.kind, v.sessionId, v.detail.type]),
      [
        ['security', 'sess-1', 'policy_violation'],
        ['security', 'sess-2', 'policy_violation'],
      ],
    );
    assert.equal(res.decision.detail.action, 'plugin_revoke');

    const fresh = new PluginRegistry(ddb, { tableName: TABLE });
    const d = await fresh.isAllowed('beacon-plugin', '1.0.0', digest, now);
    assert.deepEqual([d.revoked, d.allowed], [true, false]);
    // The warm reader may serve its cached answer, but never past 30 s.
    t += 29_000;
    assert.equal((await warm.isAllowed('beacon-plugin', '1.0.0', digest, now)).allowed, true);
    t += 1_000;
    assert.equal((await warm.isAllowed('beacon-plugin', '1.0.0', digest, now)).allowed, false);
    // A revoked version cannot come back, and revoking twice is harmless.
    await assert.rejects(
      recordAdmission(
        { registry, policy, now: () => now },
        {
          facts: {
            pluginId: 'beacon-plugin',
            version: '1.0.0',
            digest,
            otherDigests: {},
            publisher: 'sigstore-conformance',
            signer: {},
            provenance: null,
            slsaBuildLevel: 0,
            signedAt: '',
            bundles: [],
          },
          admittedBy: 'x',
        },
      ),
      ConflictError,
    );
    assert.equal((await registry.revokeVersion('beacon-plugin', '1.0.0', 'carol', 'again')).revokedBy, 'bob');
    await assert.rejects(registry.revokeVersion('beacon-plugin', '7.7.7', 'carol', 'x'), NotFoundError);
  });

  it('revoking a publisher denies all its versions (present and future) with one write', async () => {
    const digest = 'sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf';
    const fresh = new PluginRegistry(ddb, { tableName: TABLE, cacheTtlMs: 0 });
    assert.equal((await fresh.isAllowed('beacon-plugin', '1.0.1', digest, now)).allowed, true);
    const res = await revokePlugin(
      { registry, now: () => now },
      { publisher: 'sigstore-conformance', by: 'bob', reason: 'key compromise' },
    );
    assert.equal(res.revoked.publisher?.revoked, true);
    assert.deepEqual(res.revoked.versions.map((v) => v.version).sort(), ['1.0.0', '1.0.1']);
    const d = await fresh.isAllowed('beacon-plugin', '1.0.1', digest, now);
    assert.deepEqual([d.revoked, d.allowed], [true, false]);
    // Further admissions by that publisher are refused at verification.
    const r = await verifyStaged(deps(), {
      bucket: BUCKET,
      key: 'staging/good/a.txt',
      bundleKey: 'staging/good/a.txt.sigstore.json',
      pluginId: 'beacon-plugin',
      version: '2.0.0',
    });
    assert.equal(r.reason, 'PUBLISHER_REVOKED');
    const listed = await registry.list('beacon-plugin');
    assert.equal(listed.length, 2);
  });
});
