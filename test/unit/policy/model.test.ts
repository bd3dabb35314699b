import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import {
  canonicalJson,
  normalizeHost,
  PathError,
  parseEvaluation,
  resourceLabel,
} from '../../../lambdas/policy/model.ts';
import { normalizeLinuxPath as normalizePath } from '../../../lambdas/policy/paths.ts';
import { ValidationError } from '../../../lambdas/shared/errors.ts';

const base = {
  session: { id: 'sess-1', tier: 'standard', cohort: 'pilot', approvedScopes: [] },
  principal: { id: 'alice@example.com' },
  action: 'fs_write',
  resource: { kind: 'file', path: '/home/a' },
  context: { time: '2025-06-01T12:00:00Z', attestation: { status: 'verified' } },
};
const withPath = (p: string) => ({ ...base, resource: { kind: 'file', path: p } });

function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ValidationError, `expected ValidationError, got ${(e as Error).name}`);
    assert.equal(e.name, 'ValidationError');
    return e.issues.map((i) => i.path);
  }
  assert.fail('expected a ValidationError');
}

describe('normalizePath (linux profile)', () => {
  const cases: [string, string][] = [
    ['/', '/'],
    ['//', '/'],
    ['/finance', '/finance'],
    ['/finance/', '/finance'],
    ['/finance//', '/finance'],
    ['//finance', '/finance'],
    ['/finance///a//b/', '/finance/a/b'],
    ['/./finance/./x/.', '/finance/x'],
    ['/finance/../hr/x', '/hr/x'],
    ['/finance/a/..', '/finance'],
    ['/a/b/../../finance', '/finance'],
    ['/Finance/X', '/Finance/X'],
    ['/finance/..', '/'],
    ['/finance/...', '/finance/...'],
    ['/finance/..x/y', '/finance/..x/y'],
    ['/a\\..\\b', '/a\\..\\b'],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} → ${want}`, () => assert.equal(normalizePath(input), want));
  }

  it('keeps case: /Finance is not /finance', () =>
    assert.notEqual(normalizePath('/Finance'), normalizePath('/finance')));

  for (const [input, msg] of [
    ['', /empty/],
    ['finance/x', /absolute/],
    ['./x', /absolute/],
    ['/..', /escapes/],
    ['/../finance', /escapes/],
    ['/a/../../b', /escapes/],
    ['/a\0b', /NUL/],
  ] as const) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => normalizePath(input),
        (e: unknown) => e instanceof PathError && e.name === 'ValidationError' && msg.test(e.message),
      );
    });
  }

  it('agrees with path.posix.resolve, is idempotent and canonical (10,000 random paths)', () => {
    const seg = fc.constantFrom('a', 'finance', 'hr', '.', '..', '', 'B', 'x y', '...');
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 12 }), fc.boolean(), (segs, trailing) => {
        const input = `/${segs.join('/')}${trailing ? '/' : ''}`;
        // Depth never below zero ⇔ the path does not escape.
        let depth = 0;
        let escapes = false;
        for (const s of segs) {
          if (s === '..') {
            if (depth === 0) escapes = true;
            depth = Math.max(0, depth - 1);
          } else if (s !== '' && s !== '.') depth++;
        }
        if (escapes) {
          assert.throws(() => normalizePath(input), PathError);
          return;
        }
        const out = normalizePath(input);
        assert.equal(out, path.posix.resolve(input));
        assert.equal(normalizePath(out), out);
        assert.ok(!out.includes('//'));
        assert.ok(out === '/' || !out.endsWith('/'));
        assert.ok(!out.split('/').some((s) => s === '.' || s === '..'));
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('parseEvaluation', () => {
  it('normalizes once: path, host case and trailing dot, time, flags, plugin facts', () => {
    const r = parseEvaluation(withPath('//finance/../hr/x/'));
    assert.deepEqual(r.resource, { kind: 'file', path: '/hr/x' });
    assert.equal(r.context.nowEpochS, Date.parse('2025-06-01T12:00:00Z') / 1000);
    assert.deepEqual(r.context.disabled, []);
    assert.equal(r.context.plugin.known, false);
    const h = parseEvaluation({
      ...base,
      action: 'net_connect',
      resource: { kind: 'host', host: 'API.GitHub.com.', port: 443 },
      context: { ...base.context, flags: { net_connect: false, fs_read: true } },
    });
    assert.deepEqual(h.resource, { kind: 'host', host: 'api.github.com', port: 443, endpoint: 'api.github.com:443' });
    assert.deepEqual(h.context.disabled, ['net_connect']);
  });

  it('normalizes file paths under the session OS (linux by default)', () => {
    const l = parseEvaluation(withPath('/ﬁnance/x'));
    assert.equal(l.session.os, 'linux');
    assert.deepEqual(l.resource, { kind: 'file', path: '/finance/x' });
    const w = parseEvaluation({
      ...withPath('C:\\Users\\a\\..\\..\\Finance.\\Q3.xlsx'),
      session: { ...base.session, os: 'windows' },
    });
    assert.equal(w.session.os, 'windows');
    assert.deepEqual(w.resource, { kind: 'file', volume: 'c:', path: '/finance/q3.xlsx' });
    assert.equal(resourceLabel(w.resource), 'c:/finance/q3.xlsx');
    // The same spelling means different things under the two profiles.
    assert.deepEqual(parseEvaluation(withPath('/Finance/x')).resource, { kind: 'file', path: '/Finance/x' });
  });

  it('refuses paths its profile refuses, and an unknown OS, naming the field', () => {
    for (const p of ['/proc/self/root/finance/x', '/proc/1/cwd/../../finance/x', '/fin\u200bance/x']) {
      assert.deepEqual(
        fieldsOf(() => parseEvaluation(withPath(p))),
        ['resource.path'],
      );
    }
    for (const p of ['\\\\server\\finance\\x', 'C:\\finance\\x:ads', 'C:\\FINANC~1\\x', '/finance/x']) {
      assert.deepEqual(
        fieldsOf(() => parseEvaluation({ ...withPath(p), session: { ...base.session, os: 'windows' } })),
        ['resource.path'],
      );
    }
    assert.deepEqual(
      fieldsOf(() => parseEvaluation({ ...base, session: { ...base.session, os: 'macos' } })),
      ['session.os'],
    );
  });

  it('sub-second times normalize to the same second', () => {
    const a = parseEvaluation({ ...base, context: { ...base.context, time: '2025-06-01T12:00:00.100Z' } });
    const b = parseEvaluation({ ...base, context: { ...base.context, time: '2025-06-01T14:00:00.900+02:00' } });
    assert.equal(canonicalJson(a), canonicalJson(b));
  });

  it('dedupes and sorts approved scopes so equal sessions hash equally', () => {
    const r = parseEvaluation({
      ...base,
      session: { ...base.session, approvedScopes: ['write:/hr', 'write:/finance', 'write:/hr'] },
    });
    assert.deepEqual(r.session.approvedScopes, ['write:/finance', 'write:/hr']);
  });

  it('refuses malformed requests naming the failing field', () => {
    assert.deepEqual(
      fieldsOf(() => parseEvaluation(withPath(''))),
      ['resource.path'],
    );
    assert.deepEqual(
      fieldsOf(() => parseEvaluation({ ...base, action: 'fs_chmod' })),
      ['action'],
    );
    assert.deepEqual(
      fieldsOf(() => parseEvaluation({ ...base, session: { ...base.session, id: '' } })),
      ['session.id'],
    );
    assert.deepEqual(
      fieldsOf(() => parseEvaluation({ ...base, context: { ...base.context, time: 'yesterday' } })),
      ['context.time'],
    );
    assert.deepEqual(
      fieldsOf(() =>
        parseEvaluation({ ...base, action: 'net_connect', resource: { kind: 'host', host: 'a', port: 70000 } }),
      ),
      ['resource.port'],
    );
    assert.deepEqual(
      fieldsOf(() => parseEvaluation({ ...base, action: 'credential_use', resource: { kind: 'file', path: '/x' } })),
      ['resource.kind'],
    );
    assert.deepEqual(
      fieldsOf(() => parseEvaluation({ ...base, extra: 1 })),
      ['(root)'],
    );
    assert.deepEqual(
      fieldsOf(() =>
        parseEvaluation({
          ...base,
          action: 'plugin_exec',
          resource: { kind: 'plugin', pluginId: 'p', digest: 'sha256:xyz' },
        }),
      ),
      ['resource.digest'],
    );
  });
});

describe('helpers', () => {
  it('canonicalJson sorts keys at every level', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } }),
      '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}',
    );
  });
  it('normalizeHost lower-cases and drops the root dot', () => assert.equal(normalizeHost('PyPI.org.'), 'pypi.org'));
});
