/** The scheduled game day's settings (`aidops:drill`, JSON): absent, or no schedule, means off. */
import * as z from 'zod';
import { parseOrThrow } from '../../shared/validation.ts';

export const DrillConfig = z.strictObject({
  /** An EventBridge schedule expression: `rate(7 days)`, `cron(0 3 ? * MON *)`. */
  schedule: z.string().regex(/^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^)]+\))$/, {
    message: 'an EventBridge schedule expression: rate(7 days) or cron(...)',
  }),
  /** The canary session's use case (its tier follows). */
  useCase: z.string().min(1).max(64).default('document-summary'),
  /** The drill gives up after this long (the function's timeout is a minute more). */
  timeoutSeconds: z.number().int().min(60).max(840).default(600),
});
export type DrillConfig = z.output<typeof DrillConfig>;

/** undefined (off) when not given; JSON text or an object otherwise, checked with the field named. */
export function parseDrillConfig(raw: unknown, what = 'drill'): DrillConfig | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  let v: unknown = raw;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      v = undefined;
    }
  }
  return parseOrThrow(DrillConfig, v, what);
}
