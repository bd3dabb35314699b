/**
 * Forged audit objects, made for real in moto: someone with only `s3:PutObject`
 * on the audit bucket puts a COMPLIANCE-locked object at a chain's next key
 * (linked to the real last object, or with a made-up link, or junk), or a whole
 * chain for a session that never existed. The verifier names each, the writer
 * goes around it without adopting it, and the digester never signs it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CHAIN_OBJECT_FORMAT, type ChainHeader, chainObjectKey, parseChainHeader } from '../../lambdas/audit/chain.ts';
import { runDigests } from '../../lambdas/audit/digest.ts';
import { parseDigest } from '../../lambdas/audit/digest-format.ts';
import { writeBatch } from '../../lambdas/audit/writer.ts';
import { type MotoServer, startMoto } from '../../local/emulator/moto.ts';
import {
  type AuditEnv,
  codes,
  digestDeps,
  digestSession,
  ebRecord,
  sampleEvents,
  setupAuditEnv,
  verifySession,
  writeChain,
} from './helpers.ts';

let moto: MotoServer;
let env: AuditEnv;

before(async () => {
  moto = await startMoto();
  env = await setupAuditEnv(moto.endpoint, { mode: 'COMPLIANCE', defaultRetention: true });
});
after(async () => {
  await moto?.stop();
});

const okey = (s: string, seq: number) => chainObjectKey('audit/', s, seq);
const TEN_YEARS = 10 * 365 * 86_400_000;

async function current(key: string): Promise<{ body: Buffer; versionId: string; sha256: string }> {
  const out = await env.s3.send(new GetObjectCommand({ Bucket: env.bucket, Key: key }));
  const body = Buffer.from(await out.Body!.transformToByteArray());
  return { body, versionId: out.VersionId!, sha256: createHash('sha256').update(body).digest('hex') };
}

/** The attacker's PUT: plain PutObject (no If-None-Match), COMPLIANCE-locked for as long as it likes. */
async function attackerPut(
  key: string,
  body: string | Buffer,
  retainUntil = new Date(Date.now() + TEN_YEARS + 86_400_000 * 400),
) {
  const out = await env.s3.send(
    new PutObjectCommand({
      Bucket: env.bucket,
      Key: key,
      Body: body,
      ChecksumAlgorithm: 'SHA256',
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: retainUntil,
    }),
  );
  return out.VersionId!;
}

/** A well-formed chain object at `seq`, linked to the real object `seq - 1` (or with a made-up hash), dated as told. */
async function forge(
  session: string,
  seq: number,
  opts: { madeUpLink?: boolean; writtenAt?: Date } = {},
): Promise<string> {
  const prev = seq > 1 ? await current(okey(session, seq - 1)) : null;
  const at = (opts.writtenAt ?? new Date(Date.now() + TEN_YEARS)).toISOString();
  const header: ChainHeader = {
    format: CHAIN_OBJECT_FORMAT,
    chain: session,
    seq,
    prevObjectSha256: prev ? (opts.madeUpLink ? 'f'.repeat(64) : prev.sha256) : null,
    prevKey: prev ? okey(session, seq - 1) : null,
    prevVersionId: prev?.versionId ?? null,
    count: 1,
    writtenAt: at,
    firstEventTime: at,
    lastEventTime: at,
  };
  const event = sampleEvents(session, 1)[0]!;
  return attackerPut(okey(session, seq), `${JSON.stringify(header)}\n${JSON.stringify(event)}\n`);
}

describe('forged audit objects (COMPLIANCE bucket, an attacker with s3:PutObject only)', () => {
  it('a forged tail linked to the real last object is OBJECT_FORGED, with or without a lag bound (not a late object)', async () => {
    await writeChain(env, 'f-tail', 3);
    await digestSession(env, 'f-tail');
    const forgedVersion = await forge('f-tail', 4);
    for (const lag of [undefined, 0]) {
      const r = await verifySession(env, 'f-tail', { maxDigestLagMs: lag });
      assert.deepEqual(
        r.findings.map((f) => `${f.code}@${f.seq}:${f.versionId}`),
        [`OBJECT_FORGED@4:${forgedVersion}`],
        `max digest lag ${lag}`,
      );
      assert.equal(r.intact, false);
    }
  });

  it('the writer never adopts it: it skips the squatted key, says so in the next header and the head, and reports it', async () => {
    await writeChain(env, 'f-adopt', 2);
    await digestSession(env, 'f-adopt');
    const forgedVersion = await forge('f-adopt', 3);
    const r = await writeBatch(
      sampleEvents('f-adopt', 3).map((e) => ebRecord(e)),
      env.deps,
    );
    assert.deepEqual(r.failures, []);
    assert.deepEqual(
      r.written.map((w) => w.seq),
      [4],
    );
    assert.deepEqual(
      r.incidents.map((i) => [i.key, i.foundVersionId]),
      [[okey('f-adopt', 3), forgedVersion]],
    );
    const header = parseChainHeader((await current(okey('f-adopt', 4))).body.toString().split('\n')[0]!)!;
    assert.equal(header.prevKey, okey('f-adopt', 2), 'linked to the last object the writer wrote');
    assert.deepEqual(header.skippedKeys, [okey('f-adopt', 3)]);
    assert.equal((await env.heads.get('f-adopt')).head?.seq, 4);
    // The next batch goes on from the head, not from the bucket.
    await writeChain(env, 'f-adopt', 1);
    assert.equal((await env.heads.get('f-adopt')).head?.seq, 5);
    // The digester signs 4 and 5, never 3.
    await digestSession(env, 'f-adopt');
    const d = parseDigest((await current('audit/digests/f-adopt/000000000002.json')).body)!;
    assert.deepEqual(
      d.body.objects.map((o) => o.seq),
      [4, 5],
    );
    assert.deepEqual(
      (await verifySession(env, 'f-adopt', { maxDigestLagMs: 0 })).findings.map((f) => `${f.code}@${f.seq}`),
      ['OBJECT_FORGED@3'],
    );
  });

  it('a forged tail with a made-up link is blamed itself, not its genuine predecessor', async () => {
    await writeChain(env, 'f-link', 2);
    await forge('f-link', 3, { madeUpLink: true, writtenAt: new Date() });
    assert.deepEqual(
      (await verifySession(env, 'f-link')).findings.map((f) => `${f.code}@${f.seq}`),
      ['OBJECT_FORGED@3'],
    );
  });

  it('junk at the next key is OBJECT_FOREIGN and does not stop the chain', async () => {
    await writeChain(env, 'f-junk', 1);
    const junk = await attackerPut(okey('f-junk', 2), 'not an audit object\n');
    for (const seq of [3, 4, 5]) {
      const r = await writeBatch(
        sampleEvents('f-junk', 2).map((e) => ebRecord(e)),
        env.deps,
      );
      assert.deepEqual(r.failures, []);
      assert.deepEqual(
        r.written.map((w) => w.seq),
        [seq],
      );
      assert.equal(r.incidents.length, seq === 3 ? 1 : 0, 'reported once, when it is found');
    }
    const rep = await verifySession(env, 'f-junk');
    assert.deepEqual(
      rep.findings.map((f) => `${f.code}@${f.seq}:${f.versionId}`),
      [`OBJECT_FOREIGN@2:${junk}`],
    );
    assert.equal(rep.chains[0]?.events, 10);
  });

  it('a squatted key before anything was written: the chain starts after it', async () => {
    await attackerPut(okey('f-first', 1), 'junk\n');
    await writeChain(env, 'f-first', 1);
    const header = parseChainHeader((await current(okey('f-first', 2))).body.toString().split('\n')[0]!)!;
    assert.deepEqual([header.prevKey, header.skippedKeys], [null, [okey('f-first', 1)]]);
    await digestSession(env, 'f-first');
    assert.deepEqual(codes(await verifySession(env, 'f-first', { maxDigestLagMs: 0 })), ['OBJECT_FOREIGN']);
  });

  it('a chain for a session that never existed is CHAIN_UNKNOWN (one chain, or the whole bucket)', async () => {
    await forge('ses-ghost', 1, { writtenAt: new Date() });
    await forge('ses-ghost', 2, { writtenAt: new Date() });
    for (const lag of [undefined, 0]) {
      const r = await verifySession(env, 'ses-ghost', { maxDigestLagMs: lag });
      assert.deepEqual(codes(r), ['CHAIN_UNKNOWN']);
      assert.equal(r.chains[0]?.anchored, false);
    }
    const whole = await verifySession(env, undefined);
    assert.deepEqual(
      whole.findings.filter((f) => f.chain === 'ses-ghost').map((f) => f.code),
      ['CHAIN_UNKNOWN'],
    );
  });

  it('times come from S3: offline, a header dated ten years ahead is TIME_MISMATCH and does not dodge the lag bound', async () => {
    await writeChain(env, 'f-time', 2);
    await digestSession(env, 'f-time');
    await forge('f-time', 3);
    const r = await verifySession(env, 'f-time', { heads: false, maxDigestLagMs: 0 });
    assert.deepEqual(
      r.findings.map((f) => `${f.code}@${f.seq}`),
      ['TIME_MISMATCH@3', 'DIGEST_MISSING@3'],
    );
  });

  it('the digester hashes every new object before it signs: a head moved onto a forged object is refused', async () => {
    await writeChain(env, 'f-dig', 2);
    await digestSession(env, 'f-dig');
    await writeChain(env, 'f-dig', 1);
    // Someone who can also write the head table points it at a forged object with a made-up link.
    const version = await forge('f-dig', 4, { madeUpLink: true, writtenAt: new Date() });
    const forged = await current(okey('f-dig', 4));
    const s = await env.heads.get('f-dig');
    await env.ddb.send(
      new UpdateItemCommand({
        TableName: env.table,
        Key: { chain: { S: 'f-dig' } },
        UpdateExpression: 'SET seq = :s, #k = :k, versionId = :v, sha256 = :h',
        ExpressionAttributeNames: { '#k': 'key' },
        ExpressionAttributeValues: {
          ':s': { N: '4' },
          ':k': { S: okey('f-dig', 4) },
          ':v': { S: version },
          ':h': { S: forged.sha256 },
        },
      }),
    );
    assert.equal(s.head?.seq, 3);
    const run = await runDigests({
      ...digestDeps(env),
      heads: {
        ...env.heads,
        list: async function* () {
          yield await env.heads.get('f-dig');
        },
      },
    });
    assert.deepEqual(run.written, []);
    assert.deepEqual(
      run.refused.map((x) => [x.chain, x.reason]),
      [['f-dig', 'HASH_MISMATCH']],
    );
    assert.match(run.refused[0]!.message, /object 3 does not match the SHA-256 object 4 recorded/);
    // Nothing was signed: digest 2 does not exist.
    await assert.rejects(current('audit/digests/f-dig/000000000002.json'), (e: Error) => e.name === 'NoSuchKey');
  });

  it('the digester refuses a head whose hash does not match its object', async () => {
    await writeChain(env, 'f-dig2', 2);
    await env.ddb.send(
      new UpdateItemCommand({
        TableName: env.table,
        Key: { chain: { S: 'f-dig2' } },
        UpdateExpression: 'SET sha256 = :h',
        ExpressionAttributeValues: { ':h': { S: '0'.repeat(64) } },
      }),
    );
    await assert.rejects(
      digestSession(env, 'f-dig2'),
      (e: Error & { details?: { reason?: string } }) =>
        e.name === 'DigestChainError' && e.details?.reason === 'HASH_MISMATCH',
    );
  });
});
