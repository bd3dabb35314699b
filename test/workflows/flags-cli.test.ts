import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { runCli } from '../helpers/cli.ts';
import { useRuntime } from '../helpers/runtime.ts';

type Caps = { capabilities: { capability: string; enabled: boolean }[] };
const enabled = (out: string, capability: string) =>
  (JSON.parse(out) as Caps).capabilities.find((c) => c.capability === capability)?.enabled;

describe('aidops flags against the local control plane', () => {
  const rt = useRuntime();
  const flags = (...argv: string[]) => runCli(['flags', ...argv, '--endpoint', rt().endpoint]);

  it('set turns a capability off for a cohort, list shows it, the change is audited, unset restores it', async () => {
    const set = await flags(
      'set',
      'new-sessions',
      'off',
      '--cohort',
      'pilot',
      '--reason',
      'incident 42',
      '--by',
      'alice',
    );
    assert.equal(set.code, 0, set.err);
    const list = await flags('list', '--cohort', 'pilot', '--json');
    assert.equal(list.code, 0);
    assert.equal(enabled(list.out, 'new-sessions'), false);
    const other = await flags('list', '--cohort', 'finance', '--json');
    assert.equal(enabled(other.out, 'new-sessions'), true, 'other cohorts unaffected');

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

    const unset = await flags('unset', 'new-sessions', '--cohort', 'pilot', '--reason', 'resolved');
    assert.equal(unset.code, 0);
    const after = await flags('list', '--cohort', 'pilot', '--json');
    assert.equal(enabled(after.out, 'new-sessions'), true);
  });

  it('refuses an unknown capability, a bad value and a missing reason with exit 2', async () => {
    for (const argv of [
      ['set', 'teleport', 'off', '--cohort', 'pilot', '--reason', 'x'],
      ['set', 'new-sessions', 'maybe', '--cohort', 'pilot', '--reason', 'x'],
      ['set', 'new-sessions', 'off', '--cohort', 'pilot'],
      ['list', '--bogus'],
    ]) {
      const r = await flags(...argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    }
  });
});
