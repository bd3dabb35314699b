/**
 * Creates the emulator's Python virtual environment on first use:
 * `.venv-moto/` with moto[server] and every transitive dependency pinned in
 * `local/emulator/requirements.txt`. Idempotent; a stamp file records the
 * requirements' hash so a changed pin rebuilds the environment.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const VENV_DIR = process.env.AIDOPS_MOTO_VENV ?? join(PROJECT_ROOT, '.venv-moto');
const REQUIREMENTS = join(PROJECT_ROOT, 'local/emulator/requirements.txt');
const STAMP = join(VENV_DIR, '.aidops-requirements.sha256');

export function venvPython(): string {
  return join(VENV_DIR, 'bin', 'python');
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) {
    throw new Error(
      `[emulator setup] \`${cmd} ${args.join(' ')}\` failed (${r.error?.message ?? `exit ${r.status}`}). ` +
        'The emulator needs Python 3.9+ with the venv module and access to PyPI.',
    );
  }
}

/** Ensures the venv exists and matches requirements.txt; returns the python path. */
export function ensureMotoVenv(log: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): string {
  const want = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex');
  if (existsSync(venvPython()) && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === want) {
    return venvPython();
  }
  // One creator at a time: parallel test files may all ask on a fresh machine.
  const lock = `${VENV_DIR}.lock`;
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (i > 1800) throw new Error(`[emulator setup] ${lock} held for 3 minutes; remove it if no setup is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  try {
    if (existsSync(venvPython()) && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === want)
      return venvPython();
    createVenv(want, log);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return venvPython();
}

function createVenv(want: string, log: (s: string) => void): void {
  log(`[emulator setup] creating ${VENV_DIR} with pinned moto[server] (first run only, ~30 s)`);
  rmSync(VENV_DIR, { recursive: true, force: true });
  const python = process.env.AIDOPS_PYTHON ?? 'python3';
  run(python, ['-m', 'venv', VENV_DIR]);
  run(venvPython(), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', REQUIREMENTS]);
  writeFileSync(STAMP, `${want}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureMotoVenv();
  console.log(`[emulator setup] ready: ${venvPython()}`);
}
