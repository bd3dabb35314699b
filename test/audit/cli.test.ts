/** `aidops audit verify` end to end: a real subprocess against moto, checking exit codes and output. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { chainObjectKey } from '../../lambdas/audit/chain.ts';
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
  ];

  it('exits 0 and prints a table for an intact chain (trust by KMS key id)', async () => {
    const r = await aidops([...base(), '--session', 'c-ok', '--key-id', env.signingKeyId]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /c-ok\s+3\s+12\s+1\s+3\/3\s+intact/);
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
      ['c-bad:OBJECT_MISSING@2'],
    );
    const human = await aidops([...base(), '--public-key', pemFile]);
    assert.equal(human.code, 1);
    assert.match(human.out, /OBJECT_MISSING\s+c-bad\s+object 2/);
    assert.match(human.out, /^NOT INTACT/m);
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
