/** The tombstone's held path: while the blast-radius guard holds a request, the machine claims a slot every minute. */
import * as z from 'zod';
import { type IncidentStore, minuteOf } from '../incidents.ts';

export const ClaimSlotInput = z.strictObject({
  attempt: z.number().int().min(0).default(0),
});

/** The held path inside the machine: one more try for a slot. */
export async function claimHeldSlot(
  store: IncidentStore,
  maxPerMinute: number,
  input: z.output<typeof ClaimSlotInput>,
  now: Date = new Date(),
): Promise<{ granted: boolean; attempt: number }> {
  return { granted: await store.claimSlot(minuteOf(now), maxPerMinute), attempt: input.attempt + 1 };
}
