import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { names } from '../../lambdas/shared/names.ts';
import { LocalRuntime } from '../../local/runtime.ts';
import { launchSessionInstance } from '../helpers/sessions.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('when the emulator dies', () => {
  it('a workflow in flight fails with an error that names the emulator, and no moto process is left', async () => {
    const rt = await LocalRuntime.start();
    const pid = rt.moto.pid;
    try {
      await launchSessionInstance(rt, 'ses-dying', 1);
      const exec = rt.sfn.start(names().snapshotMachine, { sessionId: 'ses-dying', reason: 'x' }, 'snap-dying');
      // Stop moto as soon as the workflow has made its first AWS call.
      while (!rt.gateway.calls.some((c) => c.action === 'DescribeInstances' && c.start >= exec.startDate))
        await sleep(2);
      await rt.moto.stop();
      const ex = await exec.done;
      assert.equal(ex.status, 'FAILED');
      assert.equal(ex.error, 'EndpointUnreachableError');
      assert.match(ex.cause ?? '', /local AWS emulator \(moto\)/);
      assert.equal(alive(pid), false, 'moto stopped by PID');
    } finally {
      await rt.stop();
    }
    assert.equal(alive(pid), false);
  });

  it('a crashed test process leaves no moto behind (PR_SET_PDEATHSIG)', async () => {
    const script = `
      import { startMoto } from ${JSON.stringify(new URL('../../local/emulator/moto.ts', import.meta.url).pathname)};
      const m = await startMoto();
      console.log(m.pid);
      process.kill(process.pid, 'SIGKILL');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const pid = Number(r.stdout.trim().split('\n').pop());
    assert.ok(pid > 0, `child printed moto's pid: ${r.stdout} ${r.stderr}`);
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
    assert.equal(alive(pid), false, 'moto died with its parent');
  });
});
