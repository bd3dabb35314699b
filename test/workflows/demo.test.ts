import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

describe('npm run demo', () => {
  it('runs every section on the local control plane, prints timelines, stops the emulator and exits 0', () => {
    const demo = fileURLToPath(new URL('../../local/demo.ts', import.meta.url));
    const r = spawnSync(process.execPath, [demo], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stdout, /FAILED:/);
    assert.match(r.stdout, /aidops-dev-snapshot \/ demo-snapshot-1: SUCCEEDED/);
    assert.match(r.stdout, /STATE {2}Snapshot every volume/);
    assert.match(r.stdout, /chain ses-demo-audit: INTACT/);
    assert.match(r.stdout, /emulator stopped/);
    assert.doesNotMatch(r.stdout, /skipped/, 'every section runs');
    // Between calls the runtime behaves like AWS: the writer drains the audit queue on its own, so every
    // session's and workflow's chain is in the bucket and the tombstone's evidence names the session's objects.
    assert.match(r.stdout, /audit queue empty .*; 1 rejected event\(s\) in the dead-letter queue/);
    const verified = /verifier: (\d+) of (\d+) chain\(s\) verified INTACT/.exec(r.stdout);
    assert.ok(verified, 'the whole audit trail is verified');
    assert.equal(verified[1], verified[2]);
    assert.ok(Number(verified[1]) >= 5, `${verified[1]} chains: the audit section, three sessions, the game day`);
    assert.match(r.stdout, /evidence audit objects: [1-9]\d* of the session's chain/);
  });
});
