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
    assert.match(r.stdout, /aidops-snapshot \/ demo-snapshot-1: SUCCEEDED/);
    assert.match(r.stdout, /STATE {2}Snapshot every volume/);
    assert.match(r.stdout, /chain ses-demo-audit: INTACT/);
    assert.match(r.stdout, /emulator stopped/);
  });
});
