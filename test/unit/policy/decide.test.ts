import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAuditEvent } from '../../../lambdas/audit/schema.ts';
import { Lru } from '../../../lambdas/policy/cache.ts';
import { createDecider, requestDigest } from '../../../lambdas/policy/decide.ts';
import { ENGINES, parseEvaluation } from '../../../lambdas/policy/model.ts';
import { ValidationError } from '../../../lambdas/shared/errors.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const POLICIES = path.join(ROOT, 'policies');

const req = (p: string, extra: Record<string, unknown> = {}) => ({
  session: { id: 'sess-42', tier: 'standard', cohort: 'pilot', approvedScopes: [] },
  principal: { id: 'alice@example.com' },
  action: 'fs_write',
  resource: { kind: 'file', path: p },
  context: { time: '2025-06-01T12:00:00Z', attestation: { status: 'verified' } },
  ...extra,
});

describe('Lru', () => {
  it('is bounded and evicts the least recently used', () => {
    const c = new Lru<number>(2);
    c.set('a', 1);
    c.set('b', 2);
    assert.equal(c.get('a'), 1);
    c.set('c', 3);
    assert.equal(c.has('b'), false);
    assert.equal(c.has('a'), true);
    assert.equal(c.size, 2);
  });
});

for (const engine of ENGINES) {
  describe(`decider (${engine})`, () => {
    it('denies the protected write with the exact reason and returns both events', async () => {
      const d = await createDecider({ engine, policies: POLICIES });
      const { decision, events } = await d.decide(req('/finance/../finance/q3.xlsx'));
      assert.equal(decision.effect, 'deny');
      assert.deepEqual(decision.reasons, ['write to protected path: /finance/q3.xlsx']);
      assert.equal(decision.engine, engine);
      assert.equal(decision.policySet, 'aidops-default');
      assert.equal(decision.policyVersion, '2025.1.0');
      assert.equal(decision.cached, false);
      // The audit event is valid against the audit capability's schema.
      const audit = parseAuditEvent(events.audit);
      assert.equal(audit.kind, 'decision');
      assert.equal(audit.sessionId, 'sess-42');
      assert.equal(audit.policyVersion, '2025.1.0');
      assert.deepEqual(audit.detail, {
        engine: engine === 'rego' ? 'opa' : 'cedar',
        inputDigest: decision.inputDigest,
        action: 'fs_write',
        resource: '/finance/q3.xlsx',
        outcome: 'deny',
        reasons: ['write to protected path: /finance/q3.xlsx'],
      });
      assert.equal(decision.inputDigest, requestDigest(parseEvaluation(req('/finance/q3.xlsx'))));
      assert.deepEqual(events.violation, {
        source: 'aidops.policy',
        detailType: 'PolicyViolation',
        detail: {
          sessionId: 'sess-42',
          action: 'fs_write',
          resource: '/finance/q3.xlsx',
          reasons: ['write to protected path: /finance/q3.xlsx'],
          decisionId: decision.decisionId,
          policyVersion: '2025.1.0',
          engine,
        },
      });
    });

    it('allows an ordinary write without a violation event', async () => {
      const d = await createDecider({ engine, policies: POLICIES });
      const { decision, events } = await d.decide(req('/finance2/x'));
      assert.equal(decision.effect, 'allow');
      assert.equal(events.violation, undefined);
      assert.equal(events.audit.detail.outcome, 'allow');
    });

    it('a denied read (capability switched off) is audited but not a violation', async () => {
      const d = await createDecider({ engine, policies: POLICIES });
      const r = req('/x', { action: 'fs_read' });
      (r.context as Record<string, unknown>).flags = { fs_read: false };
      const { decision, events } = await d.decide(r);
      assert.deepEqual(decision.reasons, ['capability switched off: fs_read']);
      assert.equal(events.violation, undefined);
    });

    it('caches by normalized request: equivalent paths hit, a new case goes to the engine', async () => {
      const d = await createDecider({ engine, policies: POLICIES });
      assert.equal((await d.decide(req('/finance/x'))).decision.cached, false);
      assert.equal((await d.decide(req('//finance/./x/'))).decision.cached, true);
      const other = await d.decide(req('/hr/x'));
      assert.equal(other.decision.cached, false);
      assert.deepEqual(other.decision.reasons, ['write to protected path: /hr/x']);
      assert.deepEqual(d.info().cache, { size: 2, hits: 1, misses: 2, capacity: 10_000 });
    });

    it('a windows session: audit keeps the drive, reasons name the compared path, spellings share a cache entry', async () => {
      const d = await createDecider({ engine, policies: POLICIES });
      const win = (p: string) => ({ ...req(p), session: { ...req(p).session, os: 'windows' } });
      const first = await d.decide(win('C:\\Finance\\Q3.xlsx'));
      assert.deepEqual(first.decision.reasons, ['write to protected path: /finance/q3.xlsx']);
      assert.equal(first.events.audit.detail.resource, 'c:/finance/q3.xlsx');
      assert.equal(first.events.violation?.detail.resource, 'c:/finance/q3.xlsx');
      const again = await d.decide(win('c:/finance./q3.xlsx '));
      assert.equal(again.decision.cached, true);
      assert.equal(again.decision.inputDigest, first.decision.inputDigest);
      // Another drive is another file: same decision, its own cache entry and audit resource.
      const other = await d.decide(win('D:\\finance\\q3.xlsx'));
      assert.equal(other.decision.cached, false);
      assert.equal(other.events.audit.detail.resource, 'd:/finance/q3.xlsx');
      await assert.rejects(
        d.decide(win('C:\\FINANC~1\\q3.xlsx')),
        (e: unknown) => e instanceof ValidationError && e.issues.some((i) => i.path === 'resource.path'),
      );
    });

    it('decideBatch matches decide and names the bad field with its index', async () => {
      const d = await createDecider({ engine, policies: POLICIES, cacheSize: 0 });
      const inputs = ['/finance/a', '/tmp/b', '/hr/c', '/secrets'].map((p) => req(p));
      const batch = await d.decideBatch(inputs);
      const single = await Promise.all(inputs.map((i) => d.decide(i)));
      assert.deepEqual(
        batch.map((o) => [o.decision.effect, o.decision.reasons]),
        single.map((o) => [o.decision.effect, o.decision.reasons]),
      );
      await assert.rejects(
        d.decideBatch([req('/a'), req('')]),
        (e: unknown) => e instanceof ValidationError && e.issues.some((i) => i.path === '[1].resource.path'),
      );
    });
  });
}

describe('policy reload without redeploy (local dir source)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'aidops-policy-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(POLICIES, dir, { recursive: true });

  for (const engine of ENGINES) {
    it(`${engine}: a data change takes effect after the refresh window and never serves a stale cached decision`, async () => {
      writeFileSync(path.join(dir, 'data.json'), JSON.stringify({ egress_allowlist: [] }));
      let now = 1_000_000;
      const d = await createDecider({ engine, policies: dir, refreshMs: 30_000, clock: () => now });
      const egress = req('/', {
        action: 'net_connect',
        resource: { kind: 'host', host: 'example.org', port: 443 },
      });
      assert.equal((await d.decide(egress)).decision.effect, 'deny');
      assert.equal((await d.decide(egress)).decision.cached, true);

      writeFileSync(path.join(dir, 'data.json'), JSON.stringify({ egress_allowlist: ['example.org:443'] }));
      const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
      writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, version: `next-${engine}` }));
      now += 29_000; // inside the window: still the old bundle
      assert.equal((await d.decide(egress)).decision.effect, 'deny');
      now += 1_000;
      const after = await d.decide(egress);
      assert.equal(after.decision.effect, 'allow');
      assert.equal(after.decision.cached, false);
      assert.equal(after.decision.policyVersion, `next-${engine}`);
      assert.equal(after.events.audit.policyVersion, `next-${engine}`);
    });
  }

  it('a broken new bundle keeps the last good one and reports why', async () => {
    let now = 0;
    const d = await createDecider({ engine: 'cedar', policies: dir, clock: () => now });
    writeFileSync(path.join(dir, 'cedar/zz-broken.cedar'), 'permit (principal');
    now += 30_000;
    assert.equal(await d.refresh(), false);
    assert.match(d.info().lastRefreshError ?? '', /zz-broken/);
    assert.equal((await d.decide(req('/finance/x'))).decision.effect, 'deny');
    rmSync(path.join(dir, 'cedar/zz-broken.cedar'));
  });
});
