import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { main } from '../../cli/aidops.ts';
import type { CliIo } from '../../cli/args.ts';
import { useRuntime } from '../helpers/runtime.ts';

function io(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { out: (s) => stdout.push(s), err: (s) => stderr.push(s), env: {}, stdout, stderr };
}

describe('aidops flags against the local control plane', () => {
  const rt = useRuntime();

  it('set turns a capability off for a cohort, list shows it, the change is audited, unset restores it', async () => {
    const ep = ['--endpoint', rt().endpoint];
    const set = io();
    assert.equal(
      await main(
        ['flags', 'set', 'new-sessions', 'off', '--cohort', 'pilot', '--reason', 'incident 42', '--by', 'alice', ...ep],
        set,
      ),
      0,
      set.stderr.join('\n'),
    );
    const list = io();
    assert.equal(await main(['flags', 'list', '--cohort', 'pilot', '--json', ...ep], list), 0);
    const caps = JSON.parse(list.stdout.join('')) as { capabilities: { capability: string; enabled: boolean }[] };
    assert.equal(caps.capabilities.find((c) => c.capability === 'new-sessions')?.enabled, false);
    const other = io();
    await main(['flags', 'list', '--cohort', 'finance', '--json', ...ep], other);
    const otherCaps = JSON.parse(other.stdout.join('')) as { capabilities: { capability: string; enabled: boolean }[] };
    assert.equal(
      otherCaps.capabilities.find((c) => c.capability === 'new-sessions')?.enabled,
      true,
      'other cohorts unaffected',
    );

    // The audit event reached the audit bus → the writer's queue in moto.
    const sqs = new SQSClient(rt().clientConfig());
    const got = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: rt().ref('AuditIngestQueue'), MaxNumberOfMessages: 10 }),
    );
    const bodies = (got.Messages ?? []).map((m) => m.Body ?? '');
    assert.ok(
      bodies.some((b) => b.includes('new-sessions') && b.includes('incident 42')),
      `flag change audited: ${bodies.join('\n')}`,
    );

    const unset = io();
    assert.equal(
      await main(['flags', 'unset', 'new-sessions', '--cohort', 'pilot', '--reason', 'resolved', ...ep], unset),
      0,
    );
    const after = io();
    await main(['flags', 'list', '--cohort', 'pilot', '--json', ...ep], after);
    const afterCaps = JSON.parse(after.stdout.join('')) as { capabilities: { capability: string; enabled: boolean }[] };
    assert.equal(afterCaps.capabilities.find((c) => c.capability === 'new-sessions')?.enabled, true);
  });

  it('refuses an unknown capability, a bad value and a missing reason with exit 2', async () => {
    for (const argv of [
      ['flags', 'set', 'teleport', 'off', '--cohort', 'pilot', '--reason', 'x'],
      ['flags', 'set', 'new-sessions', 'maybe', '--cohort', 'pilot', '--reason', 'x'],
      ['flags', 'set', 'new-sessions', 'off', '--cohort', 'pilot'],
      ['flags', 'list', '--bogus'],
    ]) {
      const o = io();
      assert.equal(
        await main([...argv, '--endpoint', rt().endpoint], o),
        2,
        `${argv.join(' ')}: ${o.stderr.join('\n')}`,
      );
    }
  });
});
