import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../../helpers/cli.ts';
import { TESTDATA } from './vectors.ts';

const cli = (...argv: string[]) => runCli(['attest', ...argv]);
const T = (rel: string) => path.join(TESTDATA, rel);
const tmp = mkdtempSync(path.join(tmpdir(), 'attest-cli-'));

describe('aidops attest verify', () => {
  it('exit 0 and the JSON shape for a valid Nitro document (auto-detected hex)', async () => {
    const r = await cli(
      'verify',
      '--type',
      'nitro-enclave',
      '--evidence',
      T('nitro-enclave/confidior-2026-07-07-us-east-2.hex'),
      '--at',
      '2026-07-07T20:33:35Z',
      '--nonce',
      '3ee1db6c2f6434596c5e27a66d9fb666be958dc628268f3a221ebb3ac603f7e9',
      '--json',
    );
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(Object.keys(j).sort(), ['claims', 'message', 'reason', 'verdict']);
    assert.equal(j.verdict, 'verified');
    assert.equal(j.reason, null);
    assert.equal(j.claims.moduleId, 'i-01067cfa560f27f3d-enc019f3e452b6927d3');
    assert.equal(j.claims.nonce, '3ee1db6c2f6434596c5e27a66d9fb666be958dc628268f3a221ebb3ac603f7e9');
  });

  it('exit 1 with the reason for a debug enclave under the default policy, 0 with a policy allowing debug', async () => {
    const args = [
      'verify',
      '--type',
      'nitro-enclave',
      '--evidence',
      T('nitro-enclave/evervault-2023-09-18-us-east-1-debug.b64'),
      '--at',
      '2023-09-18T15:03:31Z',
      '--json',
    ];
    const r = await cli(...args);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.out).reason, 'DEBUG_NOT_ALLOWED');
    const pol = path.join(tmp, 'debug.json');
    writeFileSync(pol, JSON.stringify({ allowDebug: true }));
    assert.equal((await cli(...args, '--policy', pol)).code, 0);
  });

  it('exit 1 CERT_EXPIRED outside the window (text output)', async () => {
    const r = await cli(
      'verify',
      '--type',
      'nitrotpm',
      '--evidence',
      T('nitrotpm/vaportpm-2026-02-03-us-east-1.cbor'),
      '--at',
      '2026-02-03T13:12:03Z',
    );
    assert.equal(r.code, 1);
    assert.match(r.out, /^REJECTED CERT_EXPIRED: /);
  });

  it('SEV-SNP with --cert/--chain (VCEK DER, debug report) and with an exact --report-data', async () => {
    const base = [
      'verify',
      '--type',
      'sev-snp',
      '--evidence',
      T('sev-snp/go-sev-guest-milan-vcek-2022.report.bin'),
      '--cert',
      T('sev-snp/go-sev-guest-milan-vcek-2022.vcek.der'),
      '--chain',
      T('roots/amd-milan-ask-ark.pem'),
      '--at',
      '2022-09-24T01:00:00Z',
      '--json',
    ];
    const r = await cli(...base);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.out).reason, 'DEBUG_NOT_ALLOWED');
    const pol = path.join(tmp, 'snp.json');
    writeFileSync(pol, JSON.stringify({ allowDebug: true, tcbFloor: { snp: 5, microcode: 68 } }));
    const ok = await cli(...base, '--policy', pol, '--report-data', `0102030405${'00'.repeat(59)}`);
    assert.equal(ok.code, 0, ok.out);
    const c = JSON.parse(ok.out).claims;
    assert.equal(c.signerKind, 'VCEK');
    assert.equal(c.reportedTcb.microcode, 68);
    const bad = await cli(...base, '--policy', pol, '--report-data', '00'.repeat(64));
    assert.equal(JSON.parse(bad.out).reason, 'NONCE_MISMATCH');
  });

  it('SEV-SNP protobuf with its embedded VLEK', async () => {
    const r = await cli(
      'verify',
      '--type',
      'sev-snp',
      '--evidence',
      T('sev-snp/reclaim-aws-us-east-2-vlek-2026.attestation.pb'),
      '--chain',
      T('roots/amd-milan-asvk-ark.pem'),
      '--at',
      '2026-06-19T21:14:03Z',
    );
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^VERIFIED sev-snp: v5 Milan VLEK/);
  });

  it('exit 2 for bad usage: missing --at, unknown type, unknown flag, bad policy, SNP-only flags on Nitro', async () => {
    const ev = T('nitrotpm/vaportpm-2026-02-03-us-east-1.cbor');
    assert.equal((await cli('verify', '--type', 'nitrotpm', '--evidence', ev)).code, 2);
    assert.equal((await cli('verify', '--type', 'tdx', '--evidence', ev, '--at', '2026-02-03T11:00:00Z')).code, 2);
    assert.equal(
      (await cli('verify', '--type', 'nitrotpm', '--evidence', ev, '--at', '2026-02-03T11:00:00Z', '--bogus')).code,
      2,
    );
    assert.equal(
      (await cli('verify', '--type', 'nitrotpm', '--evidence', ev, '--at', '2026-02-03T11:00:00Z', '--cert', ev)).code,
      2,
    );
    assert.equal(
      (await cli('verify', '--type', 'nitrotpm', '--evidence', '/nonexistent', '--at', '2026-02-03T11:00:00Z')).code,
      2,
    );
    const pol = path.join(tmp, 'bad.json');
    writeFileSync(pol, JSON.stringify({ allowDebug: 'yes' }));
    const r = await cli(
      'verify',
      '--type',
      'nitrotpm',
      '--evidence',
      ev,
      '--at',
      '2026-02-03T11:00:00Z',
      '--policy',
      pol,
    );
    assert.equal(r.code, 2);
    assert.match(r.err, /allowDebug/);
    assert.equal((await cli('nonce')).code, 2);
  });
});
