/**
 * The scheduled game day (`aidops:drill` on) in the local runtime: its EventBridge rule fired, the drill
 * function (the real handler, its environment as synthesized) runs one drill against the machines and
 * passes; the canary ends through its own workflow. One runtime per file: this one synthesizes with the drill on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SessionTable } from '../../lambdas/sessions/table.ts';
import { installStandins } from '../../local/standins/index.ts';
import { useRuntime } from '../helpers/runtime.ts';

describe('drill: the scheduled game day fired in the local runtime', () => {
  const rt = useRuntime({ config: { drill: { schedule: 'rate(7 days)' } } as never });
  it('the schedule runs the drill function: a pass within the objective, the canary ended', async () => {
    installStandins(rt());
    const out = (await rt().fireSchedule('GameDay')) as any[];
    assert.equal(out.length, 1);
    const result = out[0];
    assert.equal(result.passed, true, JSON.stringify(result));
    assert.equal(result.objectiveSeconds, 60);
    assert.ok(result.timeToIsolationSeconds >= 0 && result.timeToIsolationSeconds <= 60);
    assert.equal(result.sessionEnded, true);
    // Nothing left in flight: the canary's own teardown finishes.
    const env = rt().functionEnv(rt().functionName('GameDay'));
    const table = new SessionTable(new DynamoDBClient(rt().clientConfig()), env.SESSION_TABLE!);
    let status: string | undefined;
    for (let i = 0; i < 200 && !['ended', 'failed'].includes(status ?? ''); i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await table.get(result.sessionId))?.status;
    }
    assert.ok(['ended', 'failed'].includes(status ?? ''), `canary ${status}`);
  });
});
