/**
 * One local control plane per test file: synthesize once, start moto behind the
 * gateway, provision, and always stop it (also when a test fails).
 */
import { after, before } from 'node:test';
import { LocalRuntime, type LocalRuntimeOptions } from '../../local/runtime.ts';

export function useRuntime(opts: LocalRuntimeOptions = {}): () => LocalRuntime {
  let rt: LocalRuntime | undefined;
  before(async () => {
    rt = await LocalRuntime.start(opts);
  });
  after(async () => {
    await rt?.stop();
  });
  return () => {
    if (!rt) throw new Error('runtime not started');
    return rt;
  };
}
