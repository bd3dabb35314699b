/**
 * Dry runs, written once: a step makes every read, and each change goes through
 * `applyOrPlan`, which makes it, or in a dry run records it in `planned`.
 */
import * as z from 'zod';

export const PlannedChange = z.strictObject({
  action: z.string(),
  resource: z.string(),
  detail: z.string().optional(),
});
export type PlannedChange = z.output<typeof PlannedChange>;

export class Changes {
  readonly planned: PlannedChange[] = [];
  readonly dryRun: boolean;

  constructor(dryRun: boolean) {
    this.dryRun = dryRun;
  }

  /**
   * Makes the change (`call`) and returns its result; in a dry run records
   * `change` (several, when one call makes several changes) and returns undefined.
   */
  async applyOrPlan<T>(
    change: PlannedChange | readonly PlannedChange[],
    call: () => Promise<T>,
  ): Promise<T | undefined> {
    if (!this.dryRun) return await call();
    if ('action' in change) this.planned.push(change);
    else this.planned.push(...change);
    return undefined;
  }
}
