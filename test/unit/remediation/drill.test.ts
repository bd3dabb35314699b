/** The drill's figure from a tombstone's history, and its setting (`aidops:drill`) checked. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDrillConfig } from '../../../lambdas/remediation/drill/config.ts';
import { ISOLATE_STEP, isolationSeconds } from '../../../lambdas/remediation/drill/run.ts';
import { ValidationError } from '../../../lambdas/shared/errors.ts';

describe('drill: time to isolation from the tombstone history', () => {
  const trigger = new Date('2026-11-30T02:00:00.000Z');
  it('measures the trigger → the isolate step exited (AWS and local event types)', () => {
    for (const type of ['TaskStateExited', 'StateExited']) {
      const timeline = [
        { time: '2026-11-30T02:00:00.400Z', type: 'ExecutionStarted' },
        { time: '2026-11-30T02:00:00.500Z', type: type.replace('Exited', 'Entered'), state: ISOLATE_STEP },
        { time: '2026-11-30T02:00:02.250Z', type, state: 'Validate the request and find the instance' },
        { time: '2026-11-30T02:00:03.750Z', type, state: ISOLATE_STEP },
      ];
      assert.equal(isolationSeconds(timeline, trigger), 3.75);
    }
  });
  it('is undefined when the isolate step never completed', () => {
    assert.equal(
      isolationSeconds([{ time: '2026-11-30T02:00:01Z', type: 'TaskStateEntered', state: ISOLATE_STEP }], trigger),
      undefined,
    );
  });
});

describe('drill: aidops:drill', () => {
  it('off when absent; a schedule with defaults when given', () => {
    assert.equal(parseDrillConfig(undefined), undefined);
    assert.deepEqual(parseDrillConfig('{"schedule":"rate(7 days)"}'), {
      schedule: 'rate(7 days)',
      useCase: 'document-summary',
      timeoutSeconds: 600,
    });
    assert.equal(parseDrillConfig({ schedule: 'cron(0 3 ? * MON *)' })?.schedule, 'cron(0 3 ? * MON *)');
  });
  it('refuses a bad schedule, an unknown field and a timeout past Lambda limits', () => {
    assert.throws(() => parseDrillConfig({ schedule: 'every week' }), ValidationError);
    assert.throws(() => parseDrillConfig({ schedule: 'rate(7 days)', ttl: 1 }), ValidationError);
    assert.throws(() => parseDrillConfig({ schedule: 'rate(7 days)', timeoutSeconds: 3600 }), ValidationError);
    assert.throws(() => parseDrillConfig('not json'), ValidationError);
  });
});
