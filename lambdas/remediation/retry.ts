import { TransientError } from '../shared/errors.ts';

/**
 * Retries a TransientError a few times with short jittered backoff, in process.
 * Used only where a Step Functions Retry would cost too much time (isolation).
 */
export async function retryTransient<T>(
  fn: () => Promise<T>,
  attempts = 5,
  baseMs = 50,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof TransientError) || i >= attempts) throw e;
      await sleep(Math.random() * baseMs * 2 ** i);
    }
  }
}
