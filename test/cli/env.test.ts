/**
 * `--env`: a command finds its environment's resources by the names the stack
 * gives them (lambdas/shared/names.ts), from `--env`, else $AIDOPS_ENV, else dev.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groups } from '../../cli/aidops.ts';
import type { Command } from '../../cli/args.ts';
import { cliNames } from '../../cli/env.ts';
import { names } from '../../lambdas/shared/names.ts';

describe('aidops --env', () => {
  it('names come from --env, else $AIDOPS_ENV, else dev', () => {
    assert.equal(cliNames('prod', { env: { AIDOPS_ENV: 'stage' } }).sessionTable, 'aidops-prod-sessions');
    assert.equal(cliNames(undefined, { env: { AIDOPS_ENV: 'stage' } }).sessionMachine, 'aidops-stage-session');
    assert.equal(JSON.stringify(cliNames(undefined, { env: {} })), JSON.stringify(names('dev')));
    assert.equal(cliNames(undefined, { env: {} }).peopleDoorUrlParameter, '/aidops/dev/people-door-url');
  });

  it('every command that reaches AWS takes --env (audit verify: --environment)', async () => {
    const missing: string[] = [];
    for (const [group, entry] of Object.entries(groups)) {
      for (const [name, cmd] of Object.entries<Command>(await entry.load())) {
        if (!('endpoint' in cmd.options)) continue;
        const option = group === 'audit' ? 'environment' : 'env';
        if (!(option in cmd.options)) missing.push(`${group} ${name}`);
      }
    }
    assert.deepEqual(missing, []);
  });
});
