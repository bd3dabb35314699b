/**
 * Session lifecycle benchmark: state transitions and AWS calls per session, the
 * Step Functions Standard cost they imply, and local wall time per state, for
 * each path (active → ended, attestation failure, admission refusal).
 *
 *   node bench/sessions.ts [runs=5]
 *
 * The attestation callback is answered directly (SendTaskSuccess/Failure), so the
 * figures are the workflow's own; verifying evidence is bench/attestation.ts.
 * Peer: the EC2 on-demand price of the session's instance for one hour.
 */

import { names } from '../lambdas/shared/names.ts';
import { LocalRuntime } from '../local/runtime.ts';

const runs = Number(process.argv[2] ?? 5);
const PRICE_PER_TRANSITION = 0.000025; // USD, Standard workflows (us-east-1 list price)
// USD per hour, on-demand Linux, us-east-1 list prices (2026); the default instance type of each tier.
const INSTANCE_HOUR: Record<string, [string, number]> = {
  low: ['m6i.large', 0.096],
  medium: ['m6i.xlarge', 0.192],
  high: ['m6a.large', 0.0864],
};
const USE_CASE = { low: 'document-summary', medium: 'document-authoring', high: 'financial-operations' } as const;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

const rt = await LocalRuntime.start({ logLevel: 'ERROR' });
try {
  type Path = 'ended' | 'attestation-failed' | 'refused';
  const rows: { tier: string; path: Path; transitions: number; calls: number; ms: number }[] = [];
  const perState = new Map<string, number[]>();
  for (let i = 0; i < runs; i++) {
    for (const tier of ['low', 'medium', 'high'] as const) {
      for (const path of ['ended', 'attestation-failed', 'refused'] as const) {
        const sid = `ses-bench-${tier}-${path}-${i}`;
        const input =
          path === 'refused'
            ? { user: 'bench', useCase: USE_CASE[tier], ttl: '30d' }
            : { user: 'bench', useCase: USE_CASE[tier], ttl: '1h' };
        const before = rt.gateway.calls.length;
        const exec = rt.sfn.start(names().sessionMachine, input, sid);
        if (path !== 'refused') {
          const a = await rt.sfn.waitForPending(
            (p) => p.stateName === 'Wait for attestation' && p.executionArn === exec.executionArn,
          );
          if (path === 'attestation-failed')
            rt.sfn.sendTaskFailure(a.token, 'AttestationFailed', 'NONCE_MISMATCH: bench');
          else {
            rt.sfn.sendTaskSuccess(a.token, { verdict: 'verified' });
            const e = await rt.sfn.waitForPending(
              (p) => p.stateName === 'Active: wait for end or TTL' && p.executionArn === exec.executionArn,
            );
            rt.sfn.sendTaskSuccess(e.token, { endedBy: 'bench', reason: 'done' });
          }
        }
        const fin = await exec.done;
        const transitions = fin.timeline.filter((e) => e.type === 'StateEntered').length;
        const calls = rt.gateway.calls.slice(before).filter((c) => c.service !== 'states').length;
        rows.push({ tier, path, transitions, calls, ms: fin.stopDate! - fin.startDate });
        if (path === 'ended')
          for (const r of rt.timeline(fin)) {
            if (r.kind !== 'state') continue;
            const l = perState.get(r.what) ?? [];
            l.push(r.ms ?? 0);
            perState.set(r.what, l);
          }
      }
    }
  }
  console.log(`aidops-session: ${runs} runs per tier and path (local runtime: synthesized ASL, real handlers, moto)\n`);
  console.log(
    'tier    path                transitions  AWS calls  cost/session (USD)  wall p50 ms  vs 1 h of its instance',
  );
  for (const tier of ['low', 'medium', 'high'] as const) {
    for (const path of ['ended', 'attestation-failed', 'refused'] as const) {
      const rs = rows.filter((r) => r.tier === tier && r.path === path);
      const t = pct(
        rs.map((r) => r.transitions),
        50,
      );
      const cost = t * PRICE_PER_TRANSITION;
      const [type, hour] = INSTANCE_HOUR[tier]!;
      console.log(
        `${tier.padEnd(7)} ${path.padEnd(19)} ${String(t).padStart(11)}  ${String(
          pct(
            rs.map((r) => r.calls),
            50,
          ),
        ).padStart(9)}  ${cost.toFixed(6).padStart(18)}  ${String(
          pct(
            rs.map((r) => r.ms),
            50,
          ),
        ).padStart(11)}  ${((cost / hour) * 100).toFixed(3)}% of ${type} $${hour}/h`,
      );
    }
  }
  console.log('\nstate (ended path, all tiers)                 p50 ms   p90 ms   max ms');
  for (const [name, xs] of perState)
    console.log(
      `${name.padEnd(44)} ${String(pct(xs, 50)).padStart(6)} ${String(pct(xs, 90)).padStart(8)} ${String(Math.max(...xs)).padStart(8)}`,
    );
  console.log(
    `\nStandard pricing: $${PRICE_PER_TRANSITION} per state transition (StateEntered, incl. retries); waiting in a .waitForTaskToken state costs nothing per hour, so a 12 h session costs the same as a 1 h one.`,
  );
} finally {
  await rt.stop();
}
