/**
 * One local control plane per test file: synthesize once, start moto behind the
 * gateway, provision, and always stop it (also when a test fails).
 *
 * Tests drive event sources and schedules themselves (`pumpEventSources()`,
 * `fireSchedule()`), so nothing runs between their steps: `continuous: false`
 * unless a test asks for the AWS-like background behaviour.
 */
import { after, before } from 'node:test';
import { LocalRuntime, type LocalRuntimeOptions } from '../../local/runtime.ts';

export function useRuntime(opts: LocalRuntimeOptions = {}): () => LocalRuntime {
  let rt: LocalRuntime | undefined;
  before(async () => {
    rt = await LocalRuntime.start({ continuous: false, ...opts });
  });
  after(async () => {
    await rt?.stop();
  });
  return () => {
    if (!rt) throw new Error('runtime not started');
    return rt;
  };
}
