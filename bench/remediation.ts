/**
 * Remediation benchmark (local harness: moto behind the recording gateway, the
 * synthesized machines, the real handlers). For N sessions, a PolicyViolation is
 * delivered through the rules to the trigger and the tombstone runs to the end:
 *   time to isolation  event → quarantine group applied on the last interface
 *   time to evidence   event → evidence packet written under legal hold
 *   state transitions and AWS calls before isolation (goal: isolation is the first
 *   task, at most two AWS calls of the workflow before the quarantine group holds)
 * Peer: the evidence-first order of AWS's automated forensic orchestrator, measured
 * here as our own time to evidence (everything it waits for before isolating).
 * Local figures measure orchestration overhead, not EC2's own latency.
 */
import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { minuteOf } from '../lambdas/remediation/incidents.ts';
import { names } from '../lambdas/shared/names.ts';
import { deliverEvent, envelope } from '../local/events.ts';
import { isolationFigures, launchFixtureSession } from '../local/gameday.ts';
import { LocalRuntime } from '../local/runtime.ts';
import { installStandins } from '../local/standins/index.ts';

const N = Number(process.env.BENCH_N ?? '10');
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const rt = await LocalRuntime.start({});
try {
  installStandins(rt);
  const ddb = new DynamoDBClient(rt.clientConfig());
  const iso: number[] = [];
  const evid: number[] = [];
  const ec2Before: number[] = [];
  const allBefore: number[] = [];
  const transitions: number[] = [];
  let sample: string[] = [];
  for (let i = 0; i < N; i++) {
    const s = await launchFixtureSession(rt, `ses-bench-${i}-${Date.now().toString(36)}`);
    const t0 = Date.now();
    const d = await deliverEvent(
      rt,
      envelope({
        source: 'aidops.policy',
        'detail-type': 'PolicyViolation',
        detail: { sessionId: s.sessionId, action: 'fs_write', resource: 'file:/finance/x', reasons: ['bench'] },
      }),
      names().auditBus,
    );
    const arn = (d[0]?.result as { executionArn?: string } | undefined)?.executionArn;
    if (!arn) throw new Error(`no execution started: ${JSON.stringify(d)}`);
    const ex = await rt.sfn.executions.get(arn)!.done;
    if (ex.status !== 'SUCCEEDED') throw new Error(`${ex.status}: ${ex.error}: ${ex.cause}`);
    const f = isolationFigures(rt, ex, t0);
    iso.push(f.timeToIsolationMs);
    evid.push(f.timeToEvidenceMs);
    ec2Before.push(f.ec2CallsBeforeIsolation);
    allBefore.push(f.callsBeforeIsolation.length);
    transitions.push(f.transitionsBeforeIsolation);
    sample = f.callsBeforeIsolation;
    // The blast-radius guard (N a minute) is not what is measured here: give the next run its slot back.
    for (const m of [new Date(t0), new Date()])
      await ddb.send(
        new DeleteItemCommand({ TableName: rt.ref('RemediationIncidents'), Key: { pk: { S: `rate#${minuteOf(m)}` } } }),
      );
  }
  const row = (name: string, xs: number[], unit: string) =>
    `${name.padEnd(44)} median ${String(pct(xs, 50)).padStart(5)} ${unit}   p95 ${String(pct(xs, 95)).padStart(5)} ${unit}   max ${String(Math.max(...xs)).padStart(5)} ${unit}`;
  console.log(`remediation benchmark: ${N} automatic tombstones through the local harness (moto)`);
  console.log(row('time to isolation (event → quarantine)', iso, 'ms'));
  console.log(row('time to evidence (event → packet, legal hold)', evid, 'ms'));
  console.log(row('states entered before isolation', transitions, '  '));
  console.log(row('EC2 calls before the quarantine group holds', ec2Before, '  '));
  console.log(row('all AWS calls (trigger + workflow) before it', allBefore, '  '));
  console.log(`  calls before isolation (last run): ${sample.join(' → ')}`);
  const ratio = pct(evid, 50) / Math.max(1, pct(iso, 50));
  console.log(
    `isolation-first vs evidence-first (the orchestrator's order): isolated after ${pct(iso, 50)} ms instead of ${pct(evid, 50)} ms → ${ratio.toFixed(1)}x sooner`,
  );
  const goal = Math.max(...ec2Before) <= 2;
  console.log(
    `goal (≤ 2 workflow AWS calls before the quarantine group holds): ${goal ? 'MET' : 'NOT MET'} (max ${Math.max(...ec2Before)})`,
  );
} finally {
  await rt.stop();
}
