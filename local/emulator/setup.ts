/**
 * The emulator's Python virtual environment: `.venv-moto/` with moto[server]
 * and every transitive dependency pinned in `local/emulator/requirements.txt`
 * (made on first use by local/python-venv.ts).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureVenv, type VenvSpec, venvBin } from '../python-venv.ts';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const VENV_DIR = process.env.AIDOPS_MOTO_VENV ?? join(PROJECT_ROOT, '.venv-moto');

const MOTO: VenvSpec = {
  name: 'emulator',
  dir: VENV_DIR,
  requirements: join(PROJECT_ROOT, 'local/emulator/requirements.txt'),
};

export function venvPython(): string {
  return venvBin(MOTO, 'python');
}

/** Ensures the emulator's venv exists and matches requirements.txt; returns the python path. */
export function ensureMotoVenv(log?: (s: string) => void): string {
  return ensureVenv(MOTO, log);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureMotoVenv();
  console.log(`[emulator setup] ready: ${venvPython()}`);
}
