/**
 * Door round trip: a SigV4-signed request through the local API Gateway
 * stand-in (sign, HTTP, verify, resource policy, throttle, proxy event, the
 * real handler, response mapping) beside invoking the same handler in-process
 * with the same event, in the same run; p50/p99 and their ratio.
 *
 *   node bench/doors.ts [runs=300]
 *
 * Two APIs: the stand-in's test API (test/local/api-gateway/stack.ts: a private
 * REST API, AWS_IAM, an echo handler: the stand-in's own cost), and the guests'
 * door of the whole app (`GET /v1/session` signed by a session instance's
 * profile session: binding by instance, the per-caller counter, flags, scopes
 * and the policy pointer, against moto). Peer: the in-process call, the floor
 * any door adds to.
 */
import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SessionTable } from '../lambdas/sessions/table.ts';
import { names } from '../lambdas/shared/names.ts';
import type { Json } from '../local/asl/sfn-local.ts';
import { LocalRuntime } from '../local/runtime.ts';
import { callApi } from '../local/standins/api-gateway/client.ts';
import { apiFixtureStacks } from '../test/local/api-gateway/stack.ts';

const runs = Number(process.argv[2] ?? 300);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

type Call = () => Promise<{ status: number; text: string }>;

/** Interleaved, so both see the same machine load; prints p50/p99 and their ratio. */
async function compare(title: string, door: Call, direct: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const r = await door();
    if (r.status !== 200) throw new Error(`warm-up: HTTP ${r.status} ${r.text}`);
    await direct();
  }
  const through: number[] = [];
  const inProcess: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await door();
    through.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`run ${i}: HTTP ${r.status} ${r.text}`);
    const t1 = performance.now();
    await direct();
    inProcess.push(performance.now() - t1);
  }
  const row = (name: string, xs: number[]) =>
    `${name.padEnd(44)} p50 ${pct(xs, 50).toFixed(2).padStart(7)} ms   p99 ${pct(xs, 99).toFixed(2).padStart(7)} ms`;
  console.log(title);
  console.log(row('signed round trip through the stand-in', through));
  console.log(row('same handler, same event, in-process', inProcess));
  console.log(
    `ratio stand-in / in-process                  p50 ${(pct(through, 50) / pct(inProcess, 50)).toFixed(1)}x   p99 ${(pct(through, 99) / pct(inProcess, 99)).toFixed(1)}x`,
  );
}

const fixture = await LocalRuntime.start({ stacks: apiFixtureStacks(), continuous: false });
try {
  const credentials = await fixture.assumeRole('GuestRole', 'i-0123456789abcdef0');
  const url = `${fixture.apiEndpoint('Api')}items/42?bench=1`;
  const fn = fixture.functionName('Echo');
  const first = await callApi(url, { credentials });
  const event = (first.json() as { event: Json }).event;
  await compare(
    `${runs} requests, GET /items/{id} (the stand-in's test API), signed with a moto-issued assumed-role session`,
    () => callApi(url, { credentials }),
    () => fixture.invoke(fn, event),
  );
} finally {
  await fixture.stop();
}

// The guests' door of the whole app: limits out of the way (the bench measures the path, not the throttle).
const rt = await LocalRuntime.start({
  continuous: false,
  logLevel: 'ERROR',
  apiThrottleScope: 'method',
  config: {
    sessions: {
      door: { stageRateLimit: 10_000, stageBurstLimit: 5_000, callerRequests: 100_000, callerWindowSeconds: 3600 },
    },
  } as never,
});
try {
  const sid = 'ses-bench-door';
  rt.sfn.start(names().sessionMachine, { user: 'bench', useCase: 'document-summary', ttl: '1h' }, sid);
  await rt.sfn.waitForPending((p) => p.stateName === 'Wait for attestation');
  const sessions = new SessionTable(new DynamoDBClient(rt.clientConfig()), names().sessionTable);
  let instanceId: string | undefined;
  for (let i = 0; i < 200 && !instanceId; i++) {
    instanceId = (await sessions.get(sid))?.instanceId;
    if (!instanceId) await new Promise((r) => setTimeout(r, 25));
  }
  const credentials = await rt.instanceCredentials(instanceId!);
  const url = `${rt.apiEndpoint('SessionsGuestDoor')}v1/session`;
  // The proxy event the stand-in builds, captured on its way to the handler.
  let event: Json = null;
  const invoke = rt.invoke.bind(rt);
  rt.invoke = async (f, e) => {
    event = e;
    return await invoke(f, e);
  };
  const first = await callApi(url, { credentials });
  if (first.status !== 200) throw new Error(`GET /v1/session: HTTP ${first.status} ${first.text}`);
  rt.invoke = invoke;
  const fn = rt.functionName('SessionsGuestDoorFunction');
  await compare(
    `${runs} requests, GET /v1/session on the guests' door, signed with the session instance's profile session`,
    () => callApi(url, { credentials }),
    () => rt.invoke(fn, event),
  );
} finally {
  await rt.stop();
}
