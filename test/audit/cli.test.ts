/** `aidops audit verify` end to end: a real subprocess against moto, checking exit codes and output. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CHAIN_OBJECT_FORMAT, chainObjectKey } from '../../lambdas/audit/chain.ts';
import { freePort, type MotoServer, startMoto } from '../../local/emulator/moto.ts';
import { runCliProcess } from '../helpers/cli.ts';
import { type AuditEnv, digestSession, setupAuditEnv, writeChain } from './helpers.ts';

let moto: MotoServer;
let env: AuditEnv;
let pemFile: string;

const aidops = (args: string[]) =>
  runCliProcess(args, { AWS_ENDPOINT_URL: '', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' });

before(async () => {
  moto = await startMoto();
  env = await setupAuditEnv(moto.endpoint, { mode: 'GOVERNANCE' });
  await writeChain(env, 'c-ok', 3);
  await digestSession(env, 'c-ok');
  await writeChain(env, 'c-bad', 3);
  await digestSession(env, 'c-bad');
  const key = chainObjectKey('audit/', 'c-bad', 2);
  const cur = await env.s3.send(new GetObjectCommand({ Bucket: env.bucket, Key: key }));
  await env.s3.send(
    new DeleteObjectCommand({
      Bucket: env.bucket,
      Key: key,
      VersionId: cur.VersionId,
      BypassGovernanceRetention: true,
    }),
  );
  // A forged tail after the last digest (dated ten years ahead) and a chain no session wrote.
  await writeChain(env, 'c-forged', 2);
  await digestSession(env, 'c-forged');
  const last = await env.s3.send(
    new GetObjectCommand({ Bucket: env.bucket, Key: chainObjectKey('audit/', 'c-forged', 2) }),
  );
  const lastBytes = Buffer.from(await last.Body!.transformToByteArray());
  const at = new Date(Date.now() + 10 * 365 * 86_400_000).toISOString();
  const forged = (chain: string, seq: number, prev: { key: string; versionId: string; sha256: string } | null) =>
    `${JSON.stringify({ format: CHAIN_OBJECT_FORMAT, chain, seq, prevObjectSha256: prev?.sha256 ?? null, prevKey: prev?.key ?? null, prevVersionId: prev?.versionId ?? null, count: 0, writtenAt: at, firstEventTime: at, lastEventTime: at })}\n`;
  for (const [chain, seq, prev] of [
    [
      'c-forged',
      3,
      {
        key: chainObjectKey('audit/', 'c-forged', 2),
        versionId: last.VersionId!,
        sha256: createHash('sha256').update(lastBytes).digest('hex'),
      },
    ],
    ['ses-ghost', 1, null],
  ] as const) {
    await env.s3.send(
      new PutObjectCommand({
        Bucket: env.bucket,
        Key: chainObjectKey('audit/', chain, seq),
        Body: forged(chain, seq, prev),
        ObjectLockMode: 'GOVERNANCE',
        ObjectLockRetainUntilDate: new Date(Date.now() + 11 * 365 * 86_400_000),
      }),
    );
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'aidops-audit-'));
  pemFile = path.join(dir, 'signing.pem');
  writeFileSync(pemFile, env.trust.publicKey.export({ type: 'spki', format: 'pem' }));
});
after(async () => {
  await moto?.stop();
});

describe('aidops audit verify', () => {
  const base = () => [
    'audit',
    'verify',
    '--bucket',
    env.bucket,
    '--endpoint',
    moto.endpoint,
    '--lock-mode',
    'GOVERNANCE',
    '--head-table',
    env.table,
  ];

  it('exits 0 and prints a table for an intact chain (trust by KMS key id)', async () => {
    const r = await aidops([...base(), '--session', 'c-ok', '--key-id', env.signingKeyId]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /c-ok\s+3\s+12\s+1\s+3\/3\s+intact\s+known/);
    assert.match(r.out, /^INTACT: 1 chain/m);
  });

  it('exits 0 with a public key file (fully offline trust)', async () => {
    const r = await aidops([...base(), '--session', 'c-ok', '--public-key', pemFile]);
    assert.equal(r.code, 0, r.err);
  });

  it('exits 1 and lists every finding as JSON', async () => {
    const r = await aidops([...base(), '--public-key', pemFile, '--json']);
    assert.equal(r.code, 1, r.err);
    const report = JSON.parse(r.out);
    assert.equal(report.intact, false);
    assert.deepEqual(
      report.findings.map((f: { code: string; chain: string; seq: number }) => `${f.chain}:${f.code}@${f.seq}`),
      ['c-bad:OBJECT_MISSING@2', 'c-forged:OBJECT_FORGED@3', 'ses-ghost:CHAIN_UNKNOWN@undefined'],
    );
    const human = await aidops([...base(), '--public-key', pemFile]);
    assert.equal(human.code, 1);
    assert.match(human.out, /OBJECT_MISSING\s+c-bad\s+object 2/);
    assert.match(human.out, /^NOT INTACT/m);
  });

  it('reports a forged tail and a ghost chain, with or without --max-digest-lag (a forged object is not a late one)', async () => {
    for (const lag of [[], ['--max-digest-lag', '0']]) {
      for (const [session, code] of [
        ['c-forged', 'OBJECT_FORGED'],
        ['ses-ghost', 'CHAIN_UNKNOWN'],
      ]) {
        const r = await aidops([...base(), '--public-key', pemFile, '--session', session!, ...lag]);
        assert.equal(r.code, 1, `${session} ${lag.join(' ')}: ${r.out}`);
        assert.match(r.out, new RegExp(`${code}\\s+${session}`));
        assert.match(r.out, new RegExp(`NOT INTACT: .* — ${code}×1$`, 'm'));
      }
    }
    // Offline, the forged tail passes for the chain's own (the limit --offline states) but its time does not.
    const offline = await aidops([
      ...base().filter((a) => a !== '--head-table' && a !== env.table),
      '--offline',
      '--public-key',
      pemFile,
      '--session',
      'c-forged',
    ]);
    assert.equal(offline.code, 1);
    assert.match(offline.out, /TIME_MISMATCH\s+c-forged\s+object 3/);
    assert.match(offline.out, /c-forged .*offline/);
  });

  it('exits 2 naming a head table that does not exist', async () => {
    const r = await aidops([...base().slice(0, -2), '--head-table', 'no-such-table', '--public-key', pemFile]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.err, /head table no-such-table does not exist/);
  });

  it('exits 1 when policy requires COMPLIANCE and the bucket holds GOVERNANCE locks', async () => {
    const r = await aidops([
      'audit',
      'verify',
      '--bucket',
      env.bucket,
      '--endpoint',
      moto.endpoint,
      '--session',
      'c-ok',
      '--key-id',
      env.signingKeyId,
      '--head-table',
      env.table,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.out, /LOCK_MODE_WEAK/);
  });

  it('exits 2 with a clear message when the endpoint is unreachable', async () => {
    const port = await freePort();
    const r = await aidops([
      'audit',
      'verify',
      '--bucket',
      'b-x',
      '--endpoint',
      `http://127.0.0.1:${port}`,
      '--public-key',
      pemFile,
    ]);
    assert.equal(r.code, 2);
    assert.match(r.err, /EndpointUnreachableError: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it('exits 2 on usage errors and a missing bucket', async () => {
    assert.equal((await aidops(['audit', 'verify', '--endpoint', moto.endpoint, '--public-key', pemFile])).code, 2);
    const both = await aidops([...base(), '--public-key', pemFile, '--key-id', 'x']);
    assert.equal(both.code, 2);
    assert.match(both.err, /exactly one of --public-key FILE or --key-id ID/);
    assert.equal((await aidops([...base(), '--public-key', pemFile, '--from', 'yesterday'])).code, 2);
    assert.equal((await aidops([...base(), '--public-key', pemFile, '--bogus'])).code, 2);
    const nb = await aidops([
      'audit',
      'verify',
      '--bucket',
      'no-such-bucket-x',
      '--endpoint',
      moto.endpoint,
      '--public-key',
      pemFile,
    ]);
    assert.equal(nb.code, 2);
    assert.match(nb.err, /bucket no-such-bucket-x does not exist/);
  });
});
