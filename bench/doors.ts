/**
 * Door round trip: a SigV4-signed request through the local API Gateway
 * stand-in (sign, HTTP, verify, resource policy, throttle, proxy event, the
 * real handler, response mapping) beside invoking the same handler in-process
 * with the same event, in the same run; p50/p99 and their ratio.
 *
 *   node bench/doors.ts [runs=300]
 *
 * Skeleton: until the guest and people's doors exist it measures the stand-in's
 * test API (test/local/api-gateway/stack.ts: a private REST API, AWS_IAM, an
 * echo handler); the doors' routes replace it. Peer: the in-process call,
 * the floor any door adds to.
 */
import { performance } from 'node:perf_hooks';
import type { Json } from '../local/asl/sfn-local.ts';
import { LocalRuntime } from '../local/runtime.ts';
import { callApi } from '../local/standins/api-gateway/client.ts';
import { apiFixtureStacks } from '../test/local/api-gateway/stack.ts';

const runs = Number(process.argv[2] ?? 300);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

const rt = await LocalRuntime.start({ stacks: apiFixtureStacks(), continuous: false });
try {
  const credentials = await rt.assumeRole('GuestRole', 'i-0123456789abcdef0');
  const url = `${rt.apiEndpoint('Api')}items/42?bench=1`;
  const fn = rt.functionName('Echo');
  let event: Json = null;
  for (let i = 0; i < 20; i++) {
    const r = await callApi(url, { credentials });
    if (r.status !== 200) throw new Error(`warm-up: HTTP ${r.status} ${r.text}`);
    event = (r.json() as { event: Json }).event;
  }
  const door: number[] = [];
  const direct: number[] = [];
  // Interleaved, so both see the same machine load.
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await callApi(url, { credentials });
    door.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`run ${i}: HTTP ${r.status} ${r.text}`);
    const t1 = performance.now();
    await rt.invoke(fn, event);
    direct.push(performance.now() - t1);
  }
  const row = (name: string, xs: number[]) =>
    `${name.padEnd(44)} p50 ${pct(xs, 50).toFixed(2).padStart(7)} ms   p99 ${pct(xs, 99).toFixed(2).padStart(7)} ms`;
  console.log(`${runs} requests, GET /items/{id}, signed with a moto-issued assumed-role session`);
  console.log(row('signed round trip through the stand-in', door));
  console.log(row('same handler, same event, in-process', direct));
  console.log(
    `ratio stand-in / in-process                  p50 ${(pct(door, 50) / pct(direct, 50)).toFixed(1)}x   p99 ${(pct(door, 99) / pct(direct, 99)).toFixed(1)}x`,
  );
} finally {
  await rt.stop();
}
