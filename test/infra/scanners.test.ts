/**
 * The IaC scanners on the synthesized templates, as part of `npm test`:
 * cfn-lint and checkov (PyPI, pinned in scripts/iac/requirements.txt, in the
 * project's .venv-iac). Zero findings: each one is fixed, or skipped on its
 * resource with a reason (`checkov` metadata written by lib/scanners.ts), as the
 * cdk-nag acknowledgements are. A finding prints its id, resource and message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { synthesize } from '../../local/asl/template.ts';
import { PROJECT_ROOT } from '../../local/emulator/setup.ts';
import { ensureScanners } from '../../scripts/iac/setup.ts';

const OUT = path.join(PROJECT_ROOT, '.tmp', `scanners-${process.pid}`);
let files: string[] = [];
let bins: ReturnType<typeof ensureScanners>;

before(async () => {
  bins = ensureScanners();
  mkdirSync(OUT, { recursive: true });
  files = (await synthesize()).map((s) => {
    const f = path.join(OUT, `${s.stackName}.template.json`);
    writeFileSync(f, JSON.stringify(s.template, null, 1));
    return f;
  });
});
after(() => rmSync(OUT, { recursive: true, force: true }));

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, cwd: OUT });
  if (r.error) throw r.error;
  return r;
}

describe('IaC scanners on the synthesized templates', () => {
  it('cfn-lint reports nothing', () => {
    const r = run(bins.cfnLint, ['--format', 'json', ...files]);
    const findings = JSON.parse(r.stdout || '[]') as {
      Rule: { Id: string };
      Message: string;
      Location: { Path: (string | number)[] };
    }[];
    assert.deepEqual(
      findings.map((f) => `${f.Rule.Id} ${f.Location.Path.slice(0, 2).join('/')}: ${f.Message}`),
      [],
    );
    assert.equal(r.status, 0, r.stderr);
  });

  it('checkov reports no failed check', () => {
    const r = run(bins.checkov, [
      '--directory',
      OUT,
      '--framework',
      'cloudformation',
      '--output',
      'json',
      '--quiet',
      '--compact',
      '--skip-download',
    ]);
    const parsed = JSON.parse(r.stdout) as unknown;
    const reports = (Array.isArray(parsed) ? parsed : [parsed]) as {
      summary: { failed: number; passed: number; parsing_errors: number };
      results: { failed_checks: { check_id: string; check_name: string; resource: string; file_path: string }[] };
    }[];
    const failed = reports.flatMap((x) =>
      x.results.failed_checks.map((f) => `${f.check_id} ${f.resource} (${f.file_path}): ${f.check_name}`),
    );
    assert.deepEqual(failed, []);
    assert.ok(reports.every((x) => x.summary.parsing_errors === 0));
    assert.ok(reports.reduce((n, x) => n + x.summary.passed, 0) > 100, 'checkov actually checked the templates');
  });
});
