import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  evaluateFlags,
  type FlagEntry,
  FlagReader,
  flagName,
  parseFlagValue,
} from '../../../lambdas/sessions/flags.ts';

const e = (cohort: string, capability: FlagEntry['capability'], enabled: boolean): FlagEntry => ({
  cohort,
  capability,
  enabled,
  name: `/aidops/flags/${cohort}/${capability}`,
});

describe('fleet flags', () => {
  it('a capability is on unless the fleet (all) or the cohort says off; a cohort cannot override a fleet-wide off', () => {
    const entries = [
      e('all', 'plugin-execution', false),
      e('pilot', 'plugin-execution', true),
      e('pilot', 'file-write', false),
    ];
    const pilot = evaluateFlags(entries, 'pilot');
    assert.equal(pilot['plugin-execution'], false);
    assert.equal(pilot['file-write'], false);
    assert.equal(pilot['new-sessions'], true, 'unset = on');
    assert.equal(evaluateFlags(entries, 'default')['file-write'], true, 'another cohort is unaffected');
  });

  it('names and values are checked: unknown capabilities and bad cohorts are refused, values are strict', () => {
    assert.equal(flagName('/aidops/flags/', 'pilot', 'file-write'), '/aidops/flags/pilot/file-write');
    assert.throws(() => flagName('/aidops/flags', 'pilot', 'rm-rf'), /unknown capability/);
    assert.throws(() => flagName('/aidops/flags', 'Pilot!', 'file-write'), /cohort/);
    assert.equal(parseFlagValue('off'), false);
    assert.equal(parseFlagValue(' ON '), true);
    assert.equal(parseFlagValue('maybe'), undefined);
  });

  it('the reader caches at most 30 s: a flip is seen on the first read after the cache expires', async () => {
    let t = 0;
    let entries: FlagEntry[] = [];
    let loads = 0;
    const r = new FlagReader(
      async () => {
        loads++;
        return entries;
      },
      { ttlMs: 120_000, now: () => t },
    );
    assert.equal((await r.capabilities('default'))['new-sessions'], true);
    entries = [e('all', 'new-sessions', false)];
    t = 29_999;
    assert.equal((await r.capabilities('default'))['new-sessions'], true, 'still cached');
    t = 30_000;
    assert.equal((await r.capabilities('default'))['new-sessions'], false, 'a 120 s request is capped at 30 s');
    assert.equal(loads, 2);
  });

  it('concurrent readers share one load', async () => {
    let loads = 0;
    const r = new FlagReader(async () => {
      loads++;
      await new Promise((res) => setTimeout(res, 5));
      return [];
    });
    await Promise.all([r.entries(), r.entries(), r.entries()]);
    assert.equal(loads, 1);
  });
});
