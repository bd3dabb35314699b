import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fillReason, loadCedarEngine, validateCedar } from '../../../lambdas/policy/cedar.ts';
import { engineFromBundle } from '../../../lambdas/policy/decide.ts';
import { PolicyLoadError } from '../../../lambdas/policy/engine.ts';
import { parseEvaluation } from '../../../lambdas/policy/model.ts';
import { loadBundleFromDir } from '../../../lambdas/policy/source.ts';
import { describeRow, parseTable, runTable } from '../../../lambdas/policy/table.ts';
import { buildRego, bundleIsCurrent, RegoBuildError } from '../../../scripts/build-rego.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const POLICIES = path.join(ROOT, 'policies');
const bundle = loadBundleFromDir(POLICIES);
const cedar = engineFromBundle('cedar', bundle);
const rego = engineFromBundle('rego', bundle);
const table = parseTable(JSON.parse(readFileSync(path.join(POLICIES, 'decision-table.json'), 'utf8')));
const OPA = path.join(ROOT, '.tools/bin/opa');

describe('decision table through both engines', () => {
  const report = runTable(table, [cedar, rego]);
  it('has at least 50 rows, including the tricky paths', () => {
    assert.ok(report.total >= 50, `only ${report.total} rows`);
    const paths = table.rows.map((r) => (r.request.resource as { path?: string } | undefined)?.path);
    for (const p of ['/finance2/x', '/Finance/x', '/finance/../hr/x', '/finance/', '//finance/x', '']) {
      assert.ok(paths.includes(p), `table lacks ${JSON.stringify(p)}`);
    }
  });
  it('covers every path profile case of issue 12, both profiles', () => {
    const paths = new Set(table.rows.map((r) => (r.request.resource as { path?: string } | undefined)?.path));
    for (const p of [
      '/ﬁnance/q3.xlsx',
      '/ｆinance/q3.xlsx',
      '/fin\u200bance/x',
      '/proc/self/root/finance/x',
      '/proc/1/cwd/../../finance/x',
      '/finance./x',
      '/finance /x',
      '/financial-report.txt',
      'C:\\Finance\\Q3.xlsx',
      'C:\\finance.\\x',
      'C:\\finance \\x',
      'D:\\finance\\x',
      '\\\\fileserver\\finance\\q3.xlsx',
      '\\\\?\\C:\\Finance\\x',
      '\\\\.\\C:\\finance\\x',
      'C:\\finance\\q3.xlsx:hidden',
      'C:\\Users\\a\\q3.xlsx::$DATA',
      'C:\\FINANC~1\\q3.xlsx',
      'C:\\Users\\a\\doc.txt',
    ]) {
      assert.ok(paths.has(p), `table lacks ${JSON.stringify(p)}`);
    }
    const windowsRows = table.rows.filter((r) => (r.request.session as { os?: string } | undefined)?.os === 'windows');
    assert.ok(windowsRows.length >= 40, `only ${windowsRows.length} windows rows`);
  });
  it('engines never disagree', () => {
    assert.deepEqual(report.disagreements.map(describeRow), []);
  });
  it('every row gets its expected decision and exact reasons', () => {
    assert.deepEqual(report.mismatches.map(describeRow), []);
  });
  it('Cedar checking each request against the schema decides the same (session.os is in the schema)', () => {
    const strict = loadCedarEngine({
      sources: bundle.cedar!,
      data: bundle.data,
      policySet: bundle.policySet,
      version: bundle.version,
      validateRequests: true,
    });
    assert.deepEqual(runTable(table, [strict]).mismatches.map(describeRow), []);
  });
  it('a table row that expects the wrong answer is reported', () => {
    const bad = parseTable({
      defaults: table.defaults,
      rows: [{ name: 'wrong', request: table.rows[0]!.request, expect: { effect: 'allow' } }],
    });
    const r = runTable(bad, [cedar, rego]);
    assert.deepEqual(r.mismatches[0]?.mismatched, ['cedar', 'rego']);
    assert.equal(r.disagreements.length, 0);
  });
});

describe('seed rule reason is exact in both engines', () => {
  const req = parseEvaluation({
    ...(table.defaults as object),
    action: 'fs_delete',
    resource: { kind: 'file', path: '/secrets//prod/../db.env/' },
  });
  for (const e of [cedar, rego]) {
    it(e.engine, () =>
      assert.deepEqual(e.evaluate(req), { effect: 'deny', reasons: ['write to protected path: /secrets/db.env'] }),
    );
  }
  it('batch equals one-by-one', () => {
    const reqs = table.rows.flatMap((r) => {
      try {
        return [parseEvaluation({ ...(table.defaults as object), ...r.request })];
      } catch {
        return [];
      }
    });
    assert.deepEqual(rego.evaluateBatch(reqs), reqs.map(rego.evaluate));
    assert.deepEqual(cedar.evaluateBatch(reqs), reqs.map(cedar.evaluate));
  });
});

describe('cedar validation', () => {
  const src = bundle.cedar!;
  it('the shipped policies validate against the schema (strict)', () => {
    const v = validateCedar(src);
    assert.deepEqual(v.errors, []);
    assert.ok(v.policies.some((p) => p.id === 'protected-write-finance'));
  });
  it('a policy reading an attribute the schema lacks is refused, naming the policy', () => {
    const bad = src.policies['policies.cedar']!.replace(
      'context.attestation == "verified"',
      'context.attestationStatus == "verified"',
    );
    const v = validateCedar({ ...src, policies: { 'policies.cedar': bad } });
    assert.equal(v.ok, false);
    assert.match(v.errors.join('\n'), /credential-needs-attestation.*attestationStatus/);
    assert.throws(
      () => engineFromBundle('cedar', { ...bundle, cedar: { ...src, policies: { 'policies.cedar': bad } } }),
      PolicyLoadError,
    );
  });
  it('policies need a unique @id', () => {
    const v = validateCedar({ ...src, policies: { 'x.cedar': 'permit (principal, action, resource);' } });
    assert.match(v.errors.join(), /no @id/);
    const dup = '@id("a") permit (principal, action, resource);\n@id("a") forbid (principal, action, resource);';
    assert.match(validateCedar({ ...src, policies: { 'x.cedar': dup } }).errors.join(), /duplicate policy @id\("a"\)/);
  });
  it('a syntax error is reported with the file name', () => {
    assert.match(
      validateCedar({ ...src, policies: { 'broken.cedar': 'permit (principal' } }).errors.join(),
      /broken.cedar/,
    );
  });
  it('fillReason substitutes request fields and leaves unknown placeholders', () => {
    const req = parseEvaluation({
      ...(table.defaults as object),
      action: 'fs_write',
      resource: { kind: 'file', path: '/a' },
    });
    assert.equal(
      fillReason('{action} on {resource.path} by {principal.id} {nope}', req),
      'fs_write on /a by alice@example.com {nope}',
    );
  });
});

describe('rego bundle', () => {
  it('the committed policy.wasm is built from the current .rego sources', () => {
    const c = bundleIsCurrent();
    assert.ok(c.current, `rego bundle is stale (${c.why}); run node scripts/build-rego.ts`);
  });

  const haveOpa = existsSync(OPA);
  const tmp = mkdtempSync(path.join(tmpdir(), 'aidops-rego-test-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('refuses a policy that uses a built-in the wasm target lacks, naming it', {
    skip: !haveOpa && 'OPA not installed (scripts/install-opa.sh)',
  }, () => {
    writeFileSync(
      path.join(tmp, 'bad.rego'),
      'package aidops.authz\n\ndecision := {"allow": true, "reasons": [], "r": http.send({"method": "get", "url": "https://x"})}\n\nbatch := []\n',
    );
    assert.throws(
      () => buildRego(tmp, path.join(tmp, 'out')),
      (e: unknown) => e instanceof RegoBuildError && e.builtins.includes('http.send') && /http\.send/.test(e.message),
    );
    assert.equal(existsSync(path.join(tmp, 'out/policy.wasm')), false);
  });

  it('a stale bundle is detected after a source edit', { skip: !haveOpa && 'OPA not installed' }, () => {
    const src = path.join(tmp, 'ok');
    execFileSync('mkdir', ['-p', src]);
    writeFileSync(path.join(src, 'p.rego'), readFileSync(path.join(POLICIES, 'rego/aidops.rego')));
    buildRego(src, path.join(src, 'bundle'));
    assert.equal(bundleIsCurrent(src, path.join(src, 'bundle')).current, true);
    writeFileSync(path.join(src, 'p.rego'), `${readFileSync(path.join(src, 'p.rego'), 'utf8')}\n# edited\n`);
    assert.match(bundleIsCurrent(src, path.join(src, 'bundle')).why ?? '', /p\.rego/);
  });
});
