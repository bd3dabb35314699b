/**
 * Every tamper class the verifier claims, made for real in moto and detected with
 * the exact finding. A GOVERNANCE-mode bucket lets the test do what an attacker
 * with s3:BypassGovernanceRetention could (COMPLIANCE would refuse it, which
 * writer.test.ts asserts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectRetentionCommand,
} from '@aws-sdk/client-s3';
import { chainObjectKey, digestObjectKey } from '../../lambdas/audit/chain.ts';
import { runDigests } from '../../lambdas/audit/digest.ts';
import { buildDigest, parseDigest, publicKeySha256 } from '../../lambdas/audit/digest-format.ts';
import { kmsSigner } from '../../lambdas/audit/digest-signer.ts';
import { putLocked } from '../../lambdas/audit/retention-guard.ts';
import { trustFromKms } from '../../lambdas/audit/verify.ts';
import { type MotoServer, startMoto } from '../../local/emulator/moto.ts';
import {
  type AuditEnv,
  codes,
  digestDeps,
  digestSession,
  setupAuditEnv,
  verifySession,
  writeChain,
} from './helpers.ts';

let moto: MotoServer;
let env: AuditEnv;

before(async () => {
  moto = await startMoto();
  env = await setupAuditEnv(moto.endpoint, { mode: 'GOVERNANCE' });
});
after(async () => {
  await moto?.stop();
});

async function current(key: string): Promise<{ body: Buffer; versionId: string }> {
  const out = await env.s3.send(new GetObjectCommand({ Bucket: env.bucket, Key: key }));
  return { body: Buffer.from(await out.Body!.transformToByteArray()), versionId: out.VersionId! };
}

async function bypassDelete(key: string, versionId: string): Promise<void> {
  await env.s3.send(
    new DeleteObjectCommand({ Bucket: env.bucket, Key: key, VersionId: versionId, BypassGovernanceRetention: true }),
  );
}

/** Deletes the current version and writes `body` in its place, locked like the original. */
async function replace(key: string, body: Buffer): Promise<void> {
  const cur = await current(key);
  await bypassDelete(key, cur.versionId);
  await putLocked(env.s3, {
    bucket: env.bucket,
    key,
    body,
    kmsKeyId: env.sseKeyId,
    mode: 'GOVERNANCE',
    retainUntil: new Date(Date.now() + 366 * 86_400_000),
    createOnly: false,
  });
}

const okey = (s: string, seq: number) => chainObjectKey('audit/', s, seq);
const dkey = (s: string, seq: number) => digestObjectKey('audit/', s, seq);

describe('verifier finds every tamper class (GOVERNANCE bucket in moto)', () => {
  it('an untouched chain with digests is intact', async () => {
    await writeChain(env, 't-intact', 3);
    await digestSession(env, 't-intact');
    await writeChain(env, 't-intact', 2);
    await digestSession(env, 't-intact');
    const r = await verifySession(env, 't-intact', { maxDigestLagMs: 0 });
    assert.deepEqual(r.findings, []);
    assert.equal(r.intact, true);
    assert.deepEqual(
      r.chains.map((c) => [c.chain, c.objects, c.digests, c.events, c.digestedThroughSeq]),
      [['t-intact', 5, 2, 20, 5]],
    );
  });

  it('OBJECT_MODIFIED: a digested object rewritten', async () => {
    await writeChain(env, 't-mod', 3);
    await digestSession(env, 't-mod');
    const cur = await current(okey('t-mod', 2));
    await replace(okey('t-mod', 2), Buffer.from(cur.body.toString().replace('"allow"', '"deny"')));
    const r = await verifySession(env, 't-mod');
    assert.deepEqual(codes(r), ['OBJECT_MODIFIED']);
    assert.equal(r.findings[0]?.seq, 2);
  });

  it('OBJECT_MODIFIED: an undigested object rewritten is caught by the next header', async () => {
    await writeChain(env, 't-mod2', 3);
    const cur = await current(okey('t-mod2', 2));
    await replace(okey('t-mod2', 2), Buffer.from(cur.body.toString().replace('/tmp/f1', '/tmp/xx')));
    const r = await verifySession(env, 't-mod2');
    assert.deepEqual(codes(r), ['OBJECT_MODIFIED']);
    assert.equal(r.findings[0]?.seq, 2);
  });

  it('the digester refuses to sign over a chain whose object was deleted before it was digested', async () => {
    await writeChain(env, 't-nodigest', 3);
    await bypassDelete(okey('t-nodigest', 2), (await current(okey('t-nodigest', 2))).versionId);
    await assert.rejects(digestSession(env, 't-nodigest'), (e: Error) => e.name === 'DigestChainError');
    const run = await runDigests({
      ...digestDeps(env),
      heads: {
        ...env.heads,
        list: async function* () {
          yield await env.heads.get('t-nodigest');
        },
      },
    });
    assert.deepEqual(
      run.errors.map((e) => e.name),
      ['DigestChainError'],
    );
    assert.deepEqual(codes(await verifySession(env, 't-nodigest')), ['OBJECT_MISSING']);
  });

  it('OBJECT_MODIFIED: a line removed from the tail object (header count no longer matches)', async () => {
    await writeChain(env, 't-trunc', 1, 5);
    const cur = await current(okey('t-trunc', 1));
    const lines = cur.body.toString().trimEnd().split('\n');
    await replace(okey('t-trunc', 1), Buffer.from(`${lines.slice(0, -1).join('\n')}\n`));
    assert.deepEqual(codes(await verifySession(env, 't-trunc')), ['OBJECT_MODIFIED']);
  });

  it('OBJECT_MISSING: a middle object and a digested tail object deleted', async () => {
    await writeChain(env, 't-miss', 4);
    await digestSession(env, 't-miss');
    await bypassDelete(okey('t-miss', 2), (await current(okey('t-miss', 2))).versionId);
    await bypassDelete(okey('t-miss', 4), (await current(okey('t-miss', 4))).versionId);
    const r = await verifySession(env, 't-miss');
    assert.deepEqual(codes(r), ['OBJECT_MISSING', 'OBJECT_MISSING']);
    assert.deepEqual(
      r.findings.map((f) => f.seq),
      [2, 4],
    );
  });

  it('OUT_OF_ORDER: two objects swapped', async () => {
    await writeChain(env, 't-swap', 3);
    await digestSession(env, 't-swap');
    const one = await current(okey('t-swap', 1));
    const two = await current(okey('t-swap', 2));
    await replace(okey('t-swap', 1), two.body);
    await replace(okey('t-swap', 2), one.body);
    const r = await verifySession(env, 't-swap');
    assert.deepEqual(codes(r), ['OUT_OF_ORDER', 'OUT_OF_ORDER']);
  });

  it('DIGEST_MISSING: a digest removed from the middle of the digest chain', async () => {
    await writeChain(env, 't-dgap', 2);
    await digestSession(env, 't-dgap');
    await writeChain(env, 't-dgap', 2);
    await digestSession(env, 't-dgap');
    await bypassDelete(dkey('t-dgap', 1), (await current(dkey('t-dgap', 1))).versionId);
    const r = await verifySession(env, 't-dgap');
    assert.deepEqual(codes(r), ['DIGEST_MISSING']);
    assert.equal(r.findings[0]?.digestSeq, 1);
  });

  it('DIGEST_MISSING: the only digest removed, objects older than the allowed lag', async () => {
    await writeChain(env, 't-dlag', 2);
    await digestSession(env, 't-dlag');
    await bypassDelete(dkey('t-dlag', 1), (await current(dkey('t-dlag', 1))).versionId);
    const offline = { heads: false };
    assert.deepEqual(
      codes(await verifySession(env, 't-dlag', offline)),
      [],
      'offline, without a lag bound, the tail is unprovable',
    );
    assert.deepEqual(codes(await verifySession(env, 't-dlag', { ...offline, maxDigestLagMs: 0 })), ['DIGEST_MISSING']);
    // The head table's digest head names the digest that is gone: no lag bound needed.
    const r = await verifySession(env, 't-dlag');
    assert.deepEqual(codes(r), ['DIGEST_MISSING']);
    assert.equal(r.findings[0]?.digestSeq, 1);
  });

  it('DIGEST_FORGED: a digest edited after signing', async () => {
    await writeChain(env, 't-dforge', 2);
    await digestSession(env, 't-dforge');
    const cur = await current(dkey('t-dforge', 1));
    const parsed = parseDigest(cur.body)!;
    const body = { ...parsed.body, objects: parsed.body.objects.map((o) => ({ ...o, sha256: 'f'.repeat(64) })) };
    await replace(dkey('t-dforge', 1), Buffer.from(`${JSON.stringify(body)}\n${JSON.stringify(parsed.signature)}\n`));
    assert.deepEqual(codes(await verifySession(env, 't-dforge')), ['DIGEST_FORGED']);
  });

  it('DIGEST_FORGED: a digest replaced by another one signed with the real key (its successor pins the original)', async () => {
    await writeChain(env, 't-dresign', 2);
    await digestSession(env, 't-dresign');
    await writeChain(env, 't-dresign', 1);
    await digestSession(env, 't-dresign');
    const cur = await current(dkey('t-dresign', 1));
    const parsed = parseDigest(cur.body)!;
    const resigned = await buildDigest({ ...parsed.body, createdAt: new Date(0).toISOString() }, env.signer);
    await replace(dkey('t-dresign', 1), resigned);
    assert.deepEqual(codes(await verifySession(env, 't-dresign')), ['DIGEST_FORGED']);
  });

  it('DIGEST_WRONG_KEY: a digest re-signed with another KMS key', async () => {
    await writeChain(env, 't-dkey', 2);
    await digestSession(env, 't-dkey');
    const other = await env.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P384', KeyUsage: 'SIGN_VERIFY' }));
    const attacker = await kmsSigner(env.kms, other.KeyMetadata!.KeyId!);
    const parsed = parseDigest((await current(dkey('t-dkey', 1))).body)!;
    const forged = await buildDigest(
      { ...parsed.body, signingKeyId: attacker.keyId, publicKeySha256: publicKeySha256(attacker.publicKeyDer) },
      attacker,
    );
    await replace(dkey('t-dkey', 1), forged);
    const r = await verifySession(env, 't-dkey');
    assert.deepEqual(codes(r), ['DIGEST_WRONG_KEY']);
    assert.equal(r.findings[0]?.actual, attacker.keyId);
    // And the same chain verified against the attacker's key: every honest digest is "wrong key".
    await writeChain(env, 't-dkey', 1);
    await digestSession(env, 't-dkey');
    const asAttacker = await verifySession(env, 't-dkey', { trust: await trustFromKms(env.kms, attacker.keyId) });
    assert.deepEqual(codes(asAttacker), ['DIGEST_WRONG_KEY']);
    assert.equal(asAttacker.findings[0]?.digestSeq, 2);
  });

  it('RETENTION_TOO_SHORT and NOT_LOCKED: retention shortened and removed on versions', async () => {
    await writeChain(env, 't-ret', 3);
    const v1 = (await current(okey('t-ret', 1))).versionId;
    const v2 = (await current(okey('t-ret', 2))).versionId;
    await env.s3.send(
      new PutObjectRetentionCommand({
        Bucket: env.bucket,
        Key: okey('t-ret', 1),
        VersionId: v1,
        BypassGovernanceRetention: true,
        Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 86_400_000) },
      }),
    );
    await env.s3.send(
      new PutObjectRetentionCommand({
        Bucket: env.bucket,
        Key: okey('t-ret', 2),
        VersionId: v2,
        BypassGovernanceRetention: true,
        Retention: {},
      }),
    );
    const h2 = await env.s3.send(new HeadObjectCommand({ Bucket: env.bucket, Key: okey('t-ret', 2), VersionId: v2 }));
    assert.equal(h2.ObjectLockMode, undefined, 'moto removed the retention');
    const r = await verifySession(env, 't-ret');
    assert.deepEqual(
      r.findings.map((f) => `${f.code}@${f.seq}`),
      ['RETENTION_TOO_SHORT@1', 'NOT_LOCKED@2'],
    );
  });

  it('LOCK_MODE_WEAK: GOVERNANCE-locked versions where policy requires COMPLIANCE', async () => {
    await writeChain(env, 't-weak', 1);
    await digestSession(env, 't-weak');
    const r = await verifySession(env, 't-weak', { policyMode: 'COMPLIANCE' });
    assert.deepEqual(
      r.findings.map((f) => `${f.code}@${f.seq ?? `d${f.digestSeq}`}`),
      ['LOCK_MODE_WEAK@1', 'LOCK_MODE_WEAK@d1'],
    );
  });
});
