import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DescribeInstancesCommand, DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { names } from '../../lambdas/shared/names.ts';
import { Tags, tagValue } from '../../lambdas/shared/tags.ts';
import { useRuntime } from '../helpers/runtime.ts';
import { launchSessionInstance } from '../helpers/sessions.ts';

const MACHINE = names().snapshotMachine;

describe('snapshot workflow (synthesized ASL against moto)', () => {
  const rt = useRuntime();
  const ec2 = () => new EC2Client(rt().clientConfig());

  async function volumesOf(instanceId: string): Promise<string[]> {
    const d = await ec2().send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return d.Reservations![0]!.Instances![0]!.BlockDeviceMappings!.map((b) => b.Ebs!.VolumeId!);
  }

  it('snapshots every volume of the session instance, tagged, and returns their ids', async () => {
    const instanceId = await launchSessionInstance(rt(), 'ses-snap-ok', 2);
    const volumes = await volumesOf(instanceId);
    assert.equal(volumes.length, 3, 'root + 2 data volumes');
    const expiresAt = new Date(Date.now() + 3 * 86_400_000).toISOString();
    const ex = await rt().execute(
      MACHINE,
      { sessionId: 'ses-snap-ok', reason: 'hourly known-good', expiresAt },
      'snap-ok-1',
    );
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    const out = ex.output as { snapshotIds: string[]; instanceId: string };
    assert.equal(out.instanceId, instanceId);
    assert.equal(out.snapshotIds.length, 3);

    const snaps = await ec2().send(new DescribeSnapshotsCommand({ SnapshotIds: out.snapshotIds }));
    assert.deepEqual(new Set(snaps.Snapshots!.map((s) => s.VolumeId)), new Set(volumes));
    for (const s of snaps.Snapshots!) {
      assert.equal(tagValue(s.Tags, Tags.SessionId), 'ses-snap-ok');
      assert.equal(tagValue(s.Tags, Tags.Reason), 'hourly known-good');
      assert.equal(tagValue(s.Tags, Tags.KnownGood), 'true');
      assert.equal(tagValue(s.Tags, Tags.ExpiresAt), expiresAt);
      assert.equal(tagValue(s.Tags, Tags.RequestId), 'snap-ok-1');
      assert.equal(s.State, 'completed');
    }
    const states = ex.timeline.filter((e) => e.type === 'StateEntered').map((e) => e.state);
    assert.ok(states.includes('Check snapshot progress'), 'polled EC2 for completion');
  });

  it('is idempotent: the same execution name and input starts nothing new, a retried step makes no second set', async () => {
    await launchSessionInstance(rt(), 'ses-snap-idem', 1);
    const input = { sessionId: 'ses-snap-idem', reason: 'idempotency' };
    const a = await rt().execute(MACHINE, input, 'snap-idem-1');
    const b = await rt().execute(MACHINE, input, 'snap-idem-1');
    assert.equal(a, b, 'same execution object');
    const p = (await rt()
      .invoke('SnapshotCreateFn', {} as never)
      .catch((e: Error) => e)) as Error;
    assert.equal(p.name, 'Lambda.ResourceNotFoundException', 'functions are addressed by their logical id');
    const fnName = rt().functionName('SnapshotCreateFn');
    const prepared = { ...(a.output as Record<string, unknown>) };
    const retry = (await rt().invoke(fnName, {
      requestId: 'snap-idem-1',
      instanceId: prepared.instanceId as string,
      sessionId: 'ses-snap-idem',
      volumeIds: [],
      reason: 'idempotency',
      expiresAt: prepared.expiresAt as string,
      incidentId: null,
      knownGood: true,
    })) as { snapshotIds: string[]; reused: boolean };
    assert.equal(retry.reused, true);
    assert.deepEqual(retry.snapshotIds, [...(prepared.snapshotIds as string[])].sort());
    const all = await ec2().send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: `tag:${Tags.SessionId}`, Values: ['ses-snap-idem'] }] }),
    );
    assert.equal(all.Snapshots!.length, 2, 'root + 1 data volume, once');
  });

  it('retries throttled EC2 calls and completes with exactly one set of snapshots', async () => {
    await launchSessionInstance(rt(), 'ses-snap-throttle', 1);
    // 4 failures outlast the SDK's own 3 attempts, so the workflow's Retry on TransientError must act.
    rt().gateway.inject({ service: 'ec2', action: 'CreateSnapshots', code: 'RequestLimitExceeded', count: 4 });
    const ex = await rt().execute(MACHINE, { sessionId: 'ses-snap-throttle', reason: 'throttled' }, 'snap-throttle-1');
    rt().gateway.clearFaults();
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    assert.ok(ex.timeline.some((e) => e.type === 'StateRetried' && e.state === 'Snapshot every volume'));
    const injected = rt().gateway.calls.filter((c) => c.injected && c.action === 'CreateSnapshots').length;
    assert.equal(injected, 4);
    const all = await ec2().send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: `tag:${Tags.SessionId}`, Values: ['ses-snap-throttle'] }] }),
    );
    assert.equal(all.Snapshots!.length, 2);
  });

  it('fails fast with ValidationError on bad input and creates nothing', async () => {
    const before = (await ec2().send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots!.length;
    for (const [i, input] of [
      { reason: 'no target' },
      { sessionId: 'ses-x1', reason: '' },
      { sessionId: 'bad id with spaces', reason: 'x' },
      { instanceId: 'vol-123', reason: 'x' },
      { sessionId: 'ses-x1', reason: 'x', expiresAt: 'tomorrow' },
      { sessionId: 'ses-x1', reason: 'x', unexpected: true },
    ].entries()) {
      const ex = await rt().execute(MACHINE, input, `snap-bad-${i}`);
      assert.equal(ex.status, 'FAILED');
      assert.equal(ex.error, 'ValidationError', JSON.stringify(input));
      assert.ok(!ex.timeline.some((e) => e.type === 'StateRetried'), 'bad input is not retried');
    }
    const after = (await ec2().send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots!.length;
    assert.equal(after, before);
  });

  it('fails with InstanceNotFoundError for a session without a live instance', async () => {
    const ex = await rt().execute(MACHINE, { sessionId: 'ses-gone', reason: 'x' }, 'snap-missing');
    assert.equal(ex.status, 'FAILED');
    assert.equal(ex.error, 'InstanceNotFoundError');
    assert.match(ex.cause ?? '', /ses-gone/);
  });
});
