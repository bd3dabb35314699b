/** Timers of the local runtime's background work: unref'd, so they never keep a process alive on their own. */

/** An abortable pause. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    t.unref();
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Waits for `promises` to settle, at most `ms`. */
export async function settle(promises: readonly Promise<unknown>[], ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(promises),
    new Promise<void>((r) => {
      t = setTimeout(r, ms);
      t.unref();
    }),
  ]);
  clearTimeout(t);
}
