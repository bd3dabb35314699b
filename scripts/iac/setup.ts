/**
 * The IaC scanners' Python virtual environment: `.venv-iac/` with cfn-lint and
 * checkov, every transitive dependency pinned in scripts/iac/requirements.txt
 * (apart from the emulator's, so neither pins the other's dependencies).
 */
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../local/emulator/setup.ts';
import { ensureVenv, type VenvSpec, venvBin } from '../../local/python-venv.ts';

export const IAC_VENV: VenvSpec = {
  name: 'IaC scanners',
  dir: join(PROJECT_ROOT, '.venv-iac'),
  requirements: join(PROJECT_ROOT, 'scripts/iac/requirements.txt'),
};

/** Ensures the venv; returns the paths of the two scanners. */
export function ensureScanners(log?: (s: string) => void): { cfnLint: string; checkov: string } {
  ensureVenv(IAC_VENV, log);
  return { cfnLint: venvBin(IAC_VENV, 'cfn-lint'), checkov: venvBin(IAC_VENV, 'checkov') };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = ensureScanners();
  console.log(`[IaC scanners setup] ready: ${s.cfnLint}, ${s.checkov}`);
}
