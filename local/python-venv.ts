/**
 * Creates a project Python virtual environment on first use, from a pinned
 * requirements file (every transitive dependency pinned). Idempotent: a stamp
 * file records the requirements' hash, so a changed pin rebuilds it; a lock
 * directory keeps parallel test processes from building it twice.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface VenvSpec {
  /** For messages: "emulator", "IaC scanners". */
  readonly name: string;
  /** Where the venv lives (inside the project, gitignored). */
  readonly dir: string;
  /** The pinned requirements file. */
  readonly requirements: string;
}

export function venvBin(spec: VenvSpec, program: string): string {
  return join(spec.dir, 'bin', program);
}

function run(spec: VenvSpec, cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) {
    throw new Error(
      `[${spec.name} setup] \`${cmd} ${args.join(' ')}\` failed (${r.error?.message ?? `exit ${r.status}`}). ` +
        'It needs Python 3.9+ with the venv module and access to PyPI.',
    );
  }
}

/** Ensures the venv exists and matches its requirements; returns its python path. */
export function ensureVenv(spec: VenvSpec, log: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): string {
  const python = venvBin(spec, 'python');
  const stamp = join(spec.dir, '.aidops-requirements.sha256');
  const want = createHash('sha256').update(readFileSync(spec.requirements)).digest('hex');
  const ready = () => existsSync(python) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === want;
  if (ready()) return python;
  const lock = `${spec.dir}.lock`;
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (i > 1800)
        throw new Error(`[${spec.name} setup] ${lock} held for 3 minutes; remove it if no setup is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  try {
    if (ready()) return python;
    log(`[${spec.name} setup] creating ${spec.dir} from ${spec.requirements} (first run only)`);
    rmSync(spec.dir, { recursive: true, force: true });
    run(spec, process.env.AIDOPS_PYTHON ?? 'python3', ['-m', 'venv', spec.dir]);
    run(spec, python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', spec.requirements]);
    writeFileSync(stamp, `${want}\n`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return python;
}
