/**
 * Starts and stops moto server (the AWS API emulator) on 127.0.0.1.
 *
 * The server runs from the project's own venv (see setup.ts) on a free port,
 * through moto_shim.py: Linux SIGTERMs it when its parent dies (PR_SET_PDEATHSIG),
 * so a crashed or killed test run leaves no moto process behind, and it serializes
 * requests so conditional writes are atomic as in AWS; `stop()` also kills it by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ensureMotoVenv } from './setup.ts';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '123456789012';

export interface MotoServer {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Clears every resource in the emulator (POST /moto-api/reset). */
  reset(): Promise<void>;
  /** Stops the server; safe to call twice. */
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  /** @default a free port chosen by the OS */
  readonly port?: number;
  /** Extra environment for moto (its MOTO_* options). */
  readonly env?: Readonly<Record<string, string>>;
  /** @default 60_000 */
  readonly startTimeoutMs?: number;
}

/** The launcher: PDEATHSIG and per-request serialization (see the file's docstring). */
const SHIM = fileURLToPath(new URL('./moto_shim.py', import.meta.url));

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last resort: 'exit' handlers cannot await, but kill() is sync.
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

export async function startMoto(opts: StartMotoOptions = {}): Promise<MotoServer> {
  const python = ensureMotoVenv();
  const port = opts.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(python, [SHIM, '127.0.0.1', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      // moto's options the project needs: real-looking ids, no outbound calls
      MOTO_ALLOW_NONEXISTENT_REGION: 'false',
      MOTO_DISABLE_DOCKER: 'true',
      ...opts.env,
    },
  });
  installExitHook();
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited: number | null = null;
  child.on('exit', (code) => {
    exited = code ?? -1;
    live.delete(child);
  });

  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited !== null) {
      throw new Error(`moto server exited during start (code ${exited}):\n${stderr}`);
    }
    try {
      const r = await fetch(`${endpoint}/moto-api/data.json`);
      if (r.ok) {
        await r.arrayBuffer();
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto server did not answer on ${endpoint} in time:\n${stderr}`);
    }
    await sleep(100);
  }

  const pid = child.pid ?? -1;
  let stopped = false;
  return {
    endpoint,
    port,
    pid,
    async reset() {
      const r = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!r.ok) throw new Error(`moto reset failed: HTTP ${r.status}`);
      await r.arrayBuffer();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (exited !== null) return;
      const gone = new Promise<void>((res) => child.once('exit', () => res()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    },
  };
}
