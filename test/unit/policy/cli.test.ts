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
const req = (p: string) => ({
  session: { id: 'sess-cli', tier: 'standard', cohort: 'pilot', approvedScopes: [] },
  principal: { id: 'alice' },
  action: 'fs_write',
  resource: { kind: 'file', path: p },
  context: { time: '2025-06-01T12:00:00Z', attestation: { status: 'verified' } },
});

describe('aidops policy', () => {
  for (const engine of ['cedar', 'rego']) {
    it(`check --engine ${engine}: exit 1 on the protected write with the reason, 0 on an allowed one`, async () => {
      const a = io();
      assert.equal(
        await main(
          ['policy', 'check', '--engine', engine, '--request', file('d.json', req('//hr/./x/')), '--json'],
          a.io,
        ),
        1,
      );
      const j = JSON.parse(a.out.join('\n'));
      assert.deepEqual(j.decision.reasons, ['write to protected path: /hr/x']);
      assert.equal(j.events.violation.detailType, 'PolicyViolation');
      const b = io();
      assert.equal(
        await main(['policy', 'check', '--engine', engine, '--request', file('a.json', req('/hr2/x'))], b.io),
        0,
      );
      assert.match(b.out.join('\n'), /^ALLOW/);
    });
  }
  it('check: exit 2 naming the failing field', async () => {
    const a = io();
    assert.equal(await main(['policy', 'check', '--engine', 'rego', '--request', file('e.json', req(''))], a.io), 2);
    assert.match(a.err.join('\n'), /resource\.path: path is empty/);
    const b = io();
    assert.equal(await main(['policy', 'check', '--engine', 'rego', '--request', file('n.json', '{nope')], b.io), 2);
    const c = io();
    assert.equal(await main(['policy', 'check', '--engine', 'opa', '--request', file('x.json', req('/a'))], c.io), 2);
  });
  it('test: the shipped table passes; a table with a wrong expectation exits 1', async () => {
    const a = io();
    assert.equal(await main(['policy', 'test', '--table', path.join(ROOT, 'policies/decision-table.json')], a.io), 0);
    assert.match(a.out.join('\n'), /0 disagreements, 0 unexpected/);
    const b = io();
    const bad = file('t.json', {
      defaults: {},
      rows: [{ name: 'wrong', request: req('/finance/x'), expect: { effect: 'allow' } }],
    });
    assert.equal(await main(['policy', 'test', '--table', bad], b.io), 1);
    assert.match(b.err.join('\n'), /unexpected: wrong/);
  });
});
