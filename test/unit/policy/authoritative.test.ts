/**
 * The decider the decision function runs, over the real stores in moto (the
 * session table, SSM flags, the plugin registry) with an injected clock: what it
 * looks up, what a caller may not state, expired scopes, unknown and ended
 * sessions, and how long each looked-up fact is remembered.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { parseAuditEvent } from '../../../lambdas/audit/schema.ts';
import { PluginRegistry } from '../../../lambdas/plugins/registry.ts';
import { createAuthoritativeDecider } from '../../../lambdas/policy/authoritative.ts';
import { TtlCache } from '../../../lambdas/policy/cache.ts';
import { createDecider } from '../../../lambdas/policy/decide.ts';
import {
  attestationOf,
  awsStateLookup,
  createStateLookup,
  disabledActions,
  MAX_FLAGS_TTL_MS,
  MAX_SESSION_TTL_MS,
} from '../../../lambdas/policy/state.ts';
import { SsmFlags } from '../../../lambdas/sessions/flags.ts';
import { SessionTable } from '../../../lambdas/sessions/table.ts';
import { awsClientConfig } from '../../../lambdas/shared/clients.ts';
import { ValidationError } from '../../../lambdas/shared/errors.ts';
import { type MotoServer, startMoto } from '../../../local/emulator/moto.ts';
import { createStateTables, putSession, TABLES } from '../../helpers/policy-state.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const POLICIES = path.join(ROOT, 'policies');
const T0 = Date.parse('2026-03-01T12:00:00Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const DIGEST = `sha256:${'ab'.repeat(32)}`;

let moto: MotoServer;
let ddb: DynamoDBClient;
let ssm: SSMClient;
let flagN = 0;

before(async () => {
  moto = await startMoto();
  ddb = new DynamoDBClient(awsClientConfig({ endpoint: moto.endpoint }));
  ssm = new SSMClient(awsClientConfig({ endpoint: moto.endpoint }));
  await createStateTables(ddb);
  await putSession(ddb, { sessionId: 'ses-plain', expiresAt: at(3_600_000) });
  await putSession(ddb, {
    sessionId: 'ses-scoped',
    expiresAt: at(3_600_000),
    scopes: { 'write:/finance': at(60_000), 'write:/hr': at(-1) },
  });
  await putSession(ddb, { sessionId: 'ses-ended', status: 'ended', expiresAt: at(3_600_000) });
  await putSession(ddb, { sessionId: 'ses-late', expiresAt: at(-1000) });
  await putSession(ddb, { sessionId: 'ses-boot', status: 'attesting', expiresAt: at(3_600_000) });
  await putSession(ddb, { sessionId: 'ses-win', os: 'windows', expiresAt: at(3_600_000) });
  await new PluginRegistry(ddb, { tableName: TABLES.registry }).admit({
    pluginId: 'pdf-tools',
    version: '1.4.0',
    digest: DIGEST,
    publisher: 'acme',
    signer: {},
    slsaBuildLevel: 3,
    admittedBy: 'alice',
    admittedAt: at(-86_400_000),
    expiresAt: at(86_400_000),
  });
});
after(async () => {
  ddb?.destroy();
  ssm?.destroy();
  await moto?.stop();
});

/** A decider over the stores, on a clock the test moves; each gets its own flag prefix. */
async function setup(engine: 'cedar' | 'rego' = 'rego') {
  let now = T0;
  const prefix = `/aidops/test-${++flagN}/flags`;
  const reads = { sessions: 0 };
  const table = new SessionTable(ddb, TABLES.sessions);
  const state = createStateLookup({
    clock: () => now,
    sessions: {
      get: (id) => {
        reads.sessions++;
        return table.get(id);
      },
    },
    flags: new SsmFlags(ssm, prefix),
    plugins: new PluginRegistry(ddb, { tableName: TABLES.registry, cacheTtlMs: 0 }),
  });
  const d = createAuthoritativeDecider({ decider: await createDecider({ engine, policies: POLICIES }), state });
  return {
    d,
    reads,
    flags: new SsmFlags(ssm, prefix),
    tick: (ms: number) => {
      now += ms;
    },
  };
}
const write = (sessionId: string, p: string, extra: Record<string, unknown> = {}) => ({
  sessionId,
  action: 'fs_write',
  resource: { kind: 'file', path: p },
  ...extra,
});

describe('authoritative decisions: the state is looked up, never taken from the caller', () => {
  it('fills the evaluation from the session item: tier, cohort, user, path profile, attestation, the server time', async () => {
    const { d } = await setup();
    const o = await d.decide(write('ses-plain', '/home/agent/notes.md'));
    assert.equal(o.decision.effect, 'allow');
    assert.deepEqual(o.request?.session, {
      id: 'ses-plain',
      tier: 'medium',
      cohort: 'pilot',
      approvedScopes: [],
      os: 'linux',
    });
    assert.deepEqual(o.request?.principal, { id: 'alice@example.com' });
    assert.equal(o.request?.context.attestation, 'verified');
    assert.equal(o.request?.context.nowEpochS, T0 / 1000);
    const audit = parseAuditEvent(o.events.audit);
    assert.equal(audit.kind === 'decision' && audit.detail.state?.sessionStatus, 'active');
    assert.equal(audit.kind === 'decision' && audit.detail.state?.sessionReadAt, at(0));
    // A windows session's paths are normalized under its own profile.
    const w = await d.decide(write('ses-win', 'C:\\Finance\\Q3.xlsx'));
    assert.deepEqual(w.decision.reasons, ['write to protected path: /finance/q3.xlsx']);
  });

  for (const engine of ['cedar', 'rego'] as const) {
    it(`${engine}: a decision whose caller claims a scope the session does not hold is decided without it`, async () => {
      const { d } = await setup(engine);
      const claim = write('ses-plain', '/finance/q3.xlsx', {
        approvedScopes: ['write:/finance'],
        session: { id: 'ses-plain', tier: 'high', approvedScopes: ['write:/finance'] },
        context: { time: '2020-01-01T00:00:00Z', flags: {}, attestation: { status: 'verified' } },
        principal: { id: 'root' },
      });
      const o = await d.decide(claim);
      assert.equal(o.decision.effect, 'deny');
      assert.deepEqual(o.decision.reasons, ['write to protected path: /finance/q3.xlsx']);
      assert.deepEqual(o.request?.session.approvedScopes, []);
      assert.deepEqual(o.request?.principal, { id: 'alice@example.com' });
      assert.equal(o.request?.context.nowEpochS, T0 / 1000, 'the server time, not the claimed one');
      assert.ok(o.events.violation, 'still a protected deny');
      const audit = parseAuditEvent(o.events.audit);
      assert.ok(audit.kind === 'decision');
      assert.deepEqual(audit.detail.state?.callerClaimIgnored, ['approvedScopes', 'context', 'principal', 'session']);
      assert.deepEqual(audit.detail.state?.scopesHeld, []);
    });
  }

  it('any other unknown field is a ValidationError naming it (strict schema)', async () => {
    const { d } = await setup();
    await assert.rejects(d.decide(write('ses-plain', '/x', { grant: 'all' })), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.ok(
        e.issues.some((i) => i.path === '(root)' && /grant/.test(i.message)),
        JSON.stringify(e.issues),
      );
      return true;
    });
    await assert.rejects(d.decide({ session: { id: 'ses-plain' }, action: 'fs_write', resource: {} }), ValidationError);
  });

  it('a held scope allows; an expired one is not held, even while the session item is cached', async () => {
    const { d, tick, reads } = await setup();
    const fin = await d.decide(write('ses-scoped', '/finance/q3.xlsx'));
    assert.equal(fin.decision.effect, 'allow');
    assert.deepEqual(fin.state.scopesHeld, ['write:/finance'], 'write:/hr expired before now');
    const hr = await d.decide(write('ses-scoped', '/hr/review.md'));
    assert.deepEqual(hr.decision.reasons, ['write to protected path: /hr/review.md']);
    tick(MAX_SESSION_TTL_MS - 1);
    // 60 s grant: still held 9.999 s later (cached item), gone once the clock passes its expiry.
    assert.equal((await d.decide(write('ses-scoped', '/finance/q3.xlsx'))).decision.effect, 'allow');
    tick(60_000);
    const late = await d.decide(write('ses-scoped', '/finance/q3.xlsx'));
    assert.equal(late.decision.effect, 'deny');
    assert.deepEqual(late.state.scopesHeld, []);
    assert.equal(reads.sessions, 2, 'one read, then one after the 10 s cache lapsed');
  });

  it('an unknown session is a typed NotFound deny, audited on the control-plane chain, with no violation', async () => {
    const { d } = await setup();
    const o = await d.decide(write('ses-nobody', '/finance/x'));
    assert.equal(o.decision.effect, 'deny');
    assert.deepEqual(o.refusal, {
      error: 'NotFoundError',
      reason: 'SESSION_NOT_FOUND',
      message: 'no session ses-nobody',
    });
    assert.deepEqual(o.decision.reasons, ['SESSION_NOT_FOUND: no session ses-nobody']);
    assert.equal(o.request, undefined);
    assert.equal(o.events.violation, undefined);
    const audit = parseAuditEvent(o.events.audit);
    assert.equal(audit.sessionId, null, 'a made-up id gets no chain of its own');
    assert.ok(audit.kind === 'decision');
    assert.equal(audit.detail.engine, 'guard');
    assert.equal(audit.detail.resource, '/finance/x');
    assert.equal(audit.detail.state?.sessionStatus, 'unknown');
  });

  it('an ended session and one past its TTL are Forbidden denies on their own chain', async () => {
    const { d } = await setup();
    const ended = await d.decide(write('ses-ended', '/home/x'));
    assert.deepEqual(ended.refusal?.error, 'ForbiddenError');
    assert.deepEqual(ended.decision.reasons, ['SESSION_NOT_LIVE: session ses-ended is ended']);
    assert.equal(parseAuditEvent(ended.events.audit).sessionId, 'ses-ended');
    const late = await d.decide(write('ses-late', '/home/x'));
    assert.equal(late.refusal?.reason, 'SESSION_EXPIRED');
  });

  it('attestation comes from the session status: no credential use before the session is active', async () => {
    const { d } = await setup();
    const cred = (sessionId: string) => ({
      sessionId,
      action: 'credential_use',
      resource: { kind: 'secret', secretName: 'db' },
    });
    assert.deepEqual((await d.decide(cred('ses-boot'))).decision.reasons, [
      'credential use before attestation verified: db',
    ]);
    assert.equal((await d.decide(cred('ses-plain'))).decision.effect, 'allow');
    assert.equal(attestationOf('active'), 'verified');
    assert.equal(attestationOf('booting'), 'pending');
    assert.equal(attestationOf('failed'), 'failed');
    assert.equal(attestationOf('ended'), 'unknown');
  });

  it('plugin facts come from the registry by the artifact digest', async () => {
    const { d } = await setup();
    const run = (digest: string) => ({
      sessionId: 'ses-plain',
      action: 'plugin_exec',
      resource: { kind: 'plugin', pluginId: 'pdf-tools', digest },
      plugin: { pluginId: 'pdf-tools', digest, admitted: true, revoked: false, expiresAt: at(1) },
    });
    const ok = await d.decide(run(DIGEST));
    assert.equal(ok.decision.effect, 'allow');
    assert.deepEqual(ok.state.callerClaimIgnored, ['plugin']);
    const other = await d.decide(run(`sha256:${'cd'.repeat(32)}`));
    assert.deepEqual(other.decision.reasons, ['plugin not admitted: pdf-tools']);
  });

  it('a flag flipped off in SSM is read once the 30 s flags cache lapses; the version and read time are audited', async () => {
    const { d, flags, tick } = await setup();
    const egress = {
      sessionId: 'ses-plain',
      action: 'net_connect',
      resource: { kind: 'host', host: 'pypi.org', port: 443 },
    };
    const before = await d.decide(egress);
    assert.equal(before.decision.effect, 'allow');
    await flags.set('pilot', 'network-egress', false, 'incident');
    tick(MAX_FLAGS_TTL_MS - 1);
    assert.equal((await d.decide(egress)).decision.effect, 'allow', 'still the cached flags');
    tick(1);
    const after = await d.decide(egress);
    assert.deepEqual(after.decision.reasons, ['capability switched off: net_connect']);
    assert.notEqual(after.state.flagsVersion, before.state.flagsVersion);
    assert.equal(after.state.flagsReadAt, at(MAX_FLAGS_TTL_MS));
    // Another cohort's flags change nothing for this session.
    await flags.set('finance', 'file-write', false, 'x');
    assert.deepEqual(disabledActions(await flags.list(), 'pilot'), ['net_connect']);
    assert.deepEqual(disabledActions(await flags.list(), 'finance'), ['fs_delete', 'fs_write']);
  });

  it('a batch: one read per session, refusals and decisions in order, a bad path named at the caller index', async () => {
    const { d, reads } = await setup();
    const out = await d.decideBatch([
      write('ses-plain', '/home/a'),
      write('ses-nobody', '/home/a'),
      write('ses-plain', '/finance/a'),
    ]);
    assert.deepEqual(
      out.map((o) => [o.decision.effect, o.refusal?.reason ?? '-']),
      [
        ['allow', '-'],
        ['deny', 'SESSION_NOT_FOUND'],
        ['deny', '-'],
      ],
    );
    assert.equal(reads.sessions, 2);
    await assert.rejects(
      d.decideBatch([write('ses-nobody', '/x'), write('ses-plain', '/home/a'), write('ses-win', 'relative\\x')]),
      (e: unknown) => {
        assert.ok(e instanceof ValidationError);
        assert.ok(
          e.issues.every((i) => i.path.startsWith('[2].resource.path')),
          JSON.stringify(e.issues),
        );
        return true;
      },
    );
  });

  it('the deployed composition (awsStateLookup) reads the same stores', async () => {
    const state = awsStateLookup({
      ddb,
      ssm,
      sessionTable: TABLES.sessions,
      flagPrefix: '/aidops/none',
      registryTable: TABLES.registry,
      clock: () => T0,
    });
    const d = createAuthoritativeDecider({
      decider: await createDecider({ engine: 'rego', policies: POLICIES }),
      state,
    });
    assert.equal((await d.decide(write('ses-scoped', '/finance/x'))).decision.effect, 'allow');
    assert.equal(d.info().state.sessions.size, 1);
  });
});

describe('TtlCache', () => {
  it('serves a value for at most its TTL on the given clock, shares concurrent loads, caches not-found', async () => {
    let now = 0;
    let loads = 0;
    const c = new TtlCache<string | undefined>({ ttlMs: 10_000, capacity: 10, clock: () => now });
    const load = async () => {
      loads++;
      return undefined;
    };
    await Promise.all([c.get('a', load), c.get('a', load)]);
    assert.equal(loads, 1);
    now = 9_999;
    await c.get('a', load);
    assert.equal(loads, 1);
    now = 10_000;
    await c.get('a', load);
    assert.equal(loads, 2);
    await assert.rejects(c.get('b', async () => Promise.reject(new Error('boom'))));
    assert.equal((await c.get('b', async () => 'ok')).value, 'ok', 'a failed load is not cached');
  });
});
