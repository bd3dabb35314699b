/**
 * The orphan sweeper against moto: planted orphans (an instance of a session
 * with no record, an available volume and an expired snapshot of an ended
 * session, a leftover secrets bundle) are reported in a dry run, removed in a
 * real one, and audited; a live session's instance and secret are left alone,
 * as are incident evidence and unexpired snapshots.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateSecretCommand, ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SweepReport } from '../../lambdas/sessions/sweeper.ts';
import { names } from '../../lambdas/shared/names.ts';
import { Tags } from '../../lambdas/shared/tags.ts';
import { useRuntime } from '../helpers/runtime.ts';
import { launchSessionInstance } from '../helpers/sessions.ts';

const past = new Date(Date.now() - 86_400_000).toISOString();
const future = new Date(Date.now() + 86_400_000).toISOString();

describe('orphan sweeper (moto)', () => {
  const rt = useRuntime({
    config: {
      sessions: {
        minTtlSeconds: 1,
        sweeper: { graceSeconds: 0 },
        attestation: { timeoutSeconds: 30, heartbeatSeconds: 10 },
      },
    } as never,
  });
  const ec2 = () => new EC2Client(rt().clientConfig());
  const sweeperFn = () => rt().functionName('SessionsSweeperFn');
  const state = async (id: string) =>
    (await ec2().send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!.State!
      .Name;

  it('reports in a dry run, then removes orphans, leaves the live session, incident evidence and unexpired snapshots alone', async () => {
    const sm = new SecretsManagerClient(rt().clientConfig());
    // A live session: parked at attestation (record, running execution, instance, secrets bundle).
    const live = rt().sfn.start(
      names().sessionMachine,
      { user: 'zoe', useCase: 'document-summary', ttl: '1h' },
      'ses-live',
    );
    await rt().sfn.waitForPending(
      (p) => p.stateName === 'Wait for attestation' && p.executionArn.endsWith(':ses-live'),
    );

    // Orphans.
    const orphanInstance = await launchSessionInstance(rt(), 'ses-gone-1', 0);
    const vol = await ec2().send(
      new CreateVolumeCommand({
        AvailabilityZone: 'us-east-1a',
        Size: 8,
        TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: Tags.SessionId, Value: 'ses-gone-2' }] }],
      }),
    );
    const expired = await ec2().send(
      new CreateSnapshotCommand({
        VolumeId: vol.VolumeId!,
        TagSpecifications: [
          {
            ResourceType: 'snapshot',
            Tags: [
              { Key: Tags.SessionId, Value: 'ses-gone-2' },
              { Key: Tags.ExpiresAt, Value: past },
            ],
          },
        ],
      }),
    );
    const keepSnap = await ec2().send(
      new CreateSnapshotCommand({
        VolumeId: vol.VolumeId!,
        TagSpecifications: [
          {
            ResourceType: 'snapshot',
            Tags: [
              { Key: Tags.SessionId, Value: 'ses-gone-2' },
              { Key: Tags.ExpiresAt, Value: future },
            ],
          },
        ],
      }),
    );
    const evidence = await launchSessionInstance(rt(), 'ses-incident', 0);
    await ec2().send(
      new CreateTagsCommand({ Resources: [evidence], Tags: [{ Key: Tags.IncidentId, Value: 'INC-7' }] }),
    );
    await sm.send(
      new CreateSecretCommand({
        Name: `${names().sessionSecretPrefix}ses-gone-3`,
        SecretString: '{}',
        Tags: [{ Key: Tags.SessionId, Value: 'ses-gone-3' }],
      }),
    );

    const dry = (await rt().invoke(sweeperFn(), { dryRun: true })) as unknown as SweepReport;
    assert.equal(dry.dryRun, true);
    const planned = new Set(dry.actions.map((a) => a.id));
    for (const id of [orphanInstance, vol.VolumeId!, expired.SnapshotId!, `${names().sessionSecretPrefix}ses-gone-3`])
      assert.ok(planned.has(id), `dry run reports ${id}: ${JSON.stringify(dry.actions)}`);
    assert.ok(dry.actions.every((a) => !a.done));
    assert.equal(await state(orphanInstance), 'running', 'a dry run removes nothing');

    const real = (await rt().invoke(sweeperFn(), { dryRun: false })) as unknown as SweepReport;
    assert.ok(real.actions.length >= 4 && real.actions.every((a) => a.done), JSON.stringify(real.actions));
    assert.equal(await state(orphanInstance), 'terminated');
    const vols = await ec2().send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: [vol.VolumeId!] }] }),
    );
    assert.equal(vols.Volumes?.length ?? 0, 0, 'orphan volume deleted');
    const snaps = await ec2().send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
    const snapIds = new Set(snaps.Snapshots?.map((s) => s.SnapshotId));
    assert.ok(!snapIds.has(expired.SnapshotId), 'expired snapshot deleted');
    assert.ok(snapIds.has(keepSnap.SnapshotId), 'unexpired snapshot kept');
    assert.equal(await state(evidence), 'running', 'incident evidence kept');
    const secrets = (await sm.send(new ListSecretsCommand({}))).SecretList?.map((s) => s.Name) ?? [];
    assert.ok(!secrets.includes(`${names().sessionSecretPrefix}ses-gone-3`));
    assert.ok(secrets.includes(`${names().sessionSecretPrefix}ses-live`), "the live session's secrets stay");
    const liveInstance = (
      await ec2().send(
        new DescribeInstancesCommand({ Filters: [{ Name: `tag:${Tags.SessionId}`, Values: ['ses-live'] }] }),
      )
    ).Reservations![0]!.Instances![0]!;
    assert.equal(liveInstance.State?.Name, 'running', 'the live session is untouched');
    assert.ok(real.kept.some((k) => k.sessionId === 'ses-live' && k.why === 'session live'));
    assert.ok(real.kept.some((k) => k.id === evidence && /incident/.test(k.why)));

    // A session whose execution ended without teardown (killed) is an orphan too.
    live.abort?.();
    await live.done;
    const after = (await rt().invoke(sweeperFn(), { dryRun: false })) as unknown as SweepReport;
    assert.ok(
      after.actions.some((a) => a.sessionId === 'ses-live' && a.kind === 'instance' && /execution aborted/.test(a.why)),
      JSON.stringify(after.actions),
    );
    assert.equal(
      (await ec2().send(new DescribeInstancesCommand({ InstanceIds: [liveInstance.InstanceId!] }))).Reservations![0]!
        .Instances![0]!.State!.Name,
      'terminated',
    );
  });
});
