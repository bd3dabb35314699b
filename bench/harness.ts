/**
 * Local runtime benchmark: time per state and per workflow for the snapshot
 * workflow run through the harness (synthesized ASL, real handlers, moto), beside
 * the same AWS calls made directly with the SDK (the floor the emulator sets).
 *
 *   node bench/harness.ts [runs=20]
 */
import { performance } from 'node:perf_hooks';
import {
  CreateSnapshotsCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { names } from '../lambdas/shared/names.ts';
import { Tags } from '../lambdas/shared/tags.ts';
import { LocalRuntime } from '../local/runtime.ts';

const runs = Number(process.argv[2] ?? 20);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

const tStart = performance.now();
// Nothing runs between the measured calls: the event-source pollers and schedules stay off.
const rt = await LocalRuntime.start({ continuous: false });
const startupMs = performance.now() - tStart;
try {
  const ec2 = new EC2Client(rt.clientConfig());
  const perState = new Map<string, number[]>();
  const totals: number[] = [];
  const calls: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < runs; i++) {
    const sessionId = `ses-bench-${i}`;
    const r = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 'm6a.large',
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: Tags.SessionId, Value: sessionId }] }],
        BlockDeviceMappings: ['/dev/xvda', '/dev/sdf'].map((d) => ({ DeviceName: d, Ebs: { VolumeSize: 8 } })),
      }),
    );
    const before = rt.gateway.calls.length;
    const ex = await rt.execute(names().snapshotMachine, { sessionId, reason: 'bench' }, `bench-${i}`);
    if (ex.status !== 'SUCCEEDED') throw new Error(`${ex.error}: ${ex.cause}`);
    totals.push(ex.stopDate! - ex.startDate);
    calls.push(rt.gateway.calls.length - before);
    for (const row of rt.timeline(ex)) {
      if (row.kind !== 'state') continue;
      const list = perState.get(row.what) ?? [];
      list.push(row.ms ?? 0);
      perState.set(row.what, list);
    }
    // The same AWS work made directly: the floor set by moto and the SDK.
    const t0 = performance.now();
    await ec2.send(new DescribeInstancesCommand({ InstanceIds: [r.Instances![0]!.InstanceId!] }));
    const c = await ec2.send(
      new CreateSnapshotsCommand({ InstanceSpecification: { InstanceId: r.Instances![0]!.InstanceId! } }),
    );
    await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: c.Snapshots!.map((s) => s.SnapshotId!) }));
    direct.push(performance.now() - t0);
  }
  console.log(
    `local runtime: start (synth + moto + provisioning) ${startupMs.toFixed(0)} ms; ${runs} runs of aidops-snapshot`,
  );
  console.log('');
  console.log('state                                        p50 ms   p90 ms   max ms');
  for (const [name, xs] of perState) {
    console.log(
      `${name.padEnd(44)} ${String(pct(xs, 50)).padStart(6)} ${String(pct(xs, 90)).padStart(8)} ${String(Math.max(...xs)).padStart(8)}`,
    );
  }
  const p50 = pct(totals, 50);
  const d50 = pct(direct, 50);
  console.log('');
  console.log(`workflow (harness)        p50 ${p50} ms, p90 ${pct(totals, 90)} ms, AWS calls/run ${pct(calls, 50)}`);
  console.log(`same calls, direct SDK    p50 ${d50.toFixed(1)} ms (3 calls)`);
  console.log(
    `ratio harness / direct    ${(p50 / d50).toFixed(1)}x (state machine, in-process handlers, retries, polling)`,
  );
} finally {
  await rt.stop();
}
