import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../../cli/aidops.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(path.join(tmpdir(), 'aidops-cli-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), env: {} }, out, err };
}
const file = (name: string, v: unknown) => {
  const p = path.join(dir, name);
  writeFileSync(p, typeof v === 'string' ? v : JSON.stringify(v));
  return p;
};
/** The request as the decision function takes it: session id, action, resource. */
const req = (p: string) => ({ sessionId: 'sess-cli', action: 'fs_write', resource: { kind: 'file', path: p } });
/** A decision-table row's request (the evaluation form: state included). */
const evaluation = (p: string) => ({
  session: { id: 'sess-cli', tier: 'standard', cohort: 'pilot', approvedScopes: [] },
  principal: { id: 'alice' },
  action: 'fs_write',
  resource: { kind: 'file', path: p },
  context: { time: '2025-06-01T12:00:00Z', attestation: { status: 'verified' } },
});
const STATE = {
  now: '2025-06-01T12:00:00Z',
  sessions: [{ sessionId: 'sess-cli', status: 'active', tier: 'low', cohort: 'pilot', user: 'alice' }],
};
const check = (engine: string, request: string, ...more: string[]) => [
  'policy',
  'check',
  '--engine',
  engine,
  '--request',
  request,
  '--state',
  file('state.json', STATE),
  ...more,
];

describe('aidops policy', () => {
  for (const engine of ['cedar', 'rego']) {
    it(`check --engine ${engine}: exit 1 on the protected write with the reason, 0 on an allowed one`, async () => {
      const a = io();
      assert.equal(await main(check(engine, file('d.json', req('//hr/./x/')), '--json'), a.io), 1);
      const j = JSON.parse(a.out.join('\n'));
      assert.deepEqual(j.decision.reasons, ['write to protected path: /hr/x']);
      assert.equal(j.events.violation.detailType, 'PolicyViolation');
      const b = io();
      assert.equal(await main(check(engine, file('a.json', req('/hr2/x'))), b.io), 0);
      assert.match(b.out.join('\n'), /^ALLOW/);
    });
  }
  it('check: exit 2 naming the failing field', async () => {
    const a = io();
    assert.equal(await main(check('rego', file('e.json', req(''))), a.io), 2);
    assert.match(a.err.join('\n'), /resource\.path: path is empty/);
    const b = io();
    assert.equal(await main(check('rego', file('n.json', '{nope')), b.io), 2);
    const c = io();
    assert.equal(await main(check('opa', file('x.json', req('/a'))), c.io), 2);
    const d = io();
    assert.equal(await main(['policy', 'check', '--engine', 'rego', '--request', file('y.json', req('/a'))], d.io), 2);
    assert.match(d.err.join('\n'), /--state FILE is required/);
    const e = io();
    assert.equal(
      await main(
        [...check('rego', file('z.json', req('/a'))).slice(0, -1), file('bad.json', { sessions: 'none' })],
        e.io,
      ),
      2,
    );
  });
  it('check: a scope the caller claims is not held; the session decides, and the claim is named', async () => {
    const a = io();
    const claim = { ...req('/finance/q3.xlsx'), approvedScopes: ['write:/finance'], tier: 'high' };
    assert.equal(await main(check('cedar', file('c.json', claim), '--json'), a.io), 1);
    const j = JSON.parse(a.out.join('\n'));
    assert.deepEqual(j.decision.reasons, ['write to protected path: /finance/q3.xlsx']);
    assert.deepEqual(j.state.callerClaimIgnored, ['approvedScopes', 'tier']);
    assert.deepEqual(j.events.audit.detail.state.callerClaimIgnored, ['approvedScopes', 'tier']);
    // The session really holding it is what allows the write.
    const held = {
      ...STATE,
      sessions: [
        {
          ...STATE.sessions[0],
          scopes: {
            'write:/finance': { expiresAt: '2025-06-01T13:00:00Z', grantedBy: 'arn:aws:iam::123456789012:user/bob' },
          },
        },
      ],
    };
    const b = io();
    const argv = check('cedar', file('c.json', claim));
    argv[argv.indexOf('--state') + 1] = file('held.json', held);
    assert.equal(await main(argv, b.io), 0);
    assert.match(b.out.join('\n'), /scopes held: write:\/finance/);
    assert.match(b.out.join('\n'), /ignored \(the control plane's to say\): approvedScopes, tier/);
  });
  it('test: the shipped table passes; a table with a wrong expectation exits 1', async () => {
    const a = io();
    assert.equal(await main(['policy', 'test', '--table', path.join(ROOT, 'policies/decision-table.json')], a.io), 0);
    assert.match(a.out.join('\n'), /0 disagreements, 0 unexpected/);
    const b = io();
    const bad = file('t.json', {
      defaults: {},
      rows: [{ name: 'wrong', request: evaluation('/finance/x'), expect: { effect: 'allow' } }],
    });
    assert.equal(await main(['policy', 'test', '--table', bad], b.io), 1);
    assert.match(b.err.join('\n'), /unexpected: wrong/);
  });
});
