/**
 * A tombstone step that failed while the workflow went on without it (the
 * revocation, ending the session, the snapshots): the workflow records it,
 * pages, and puts this in the step's place; the evidence packet lists it and
 * says it is incomplete.
 */
import * as z from 'zod';
import { PlannedChange } from './changes.ts';

export const FailedStep = z.strictObject({
  failed: z.literal(true),
  step: z.string().min(1),
  error: z.string(),
  cause: z.string(),
  /** Whether a person was paged (false when even the page failed). */
  paged: z.boolean(),
  planned: z.array(PlannedChange).default([]),
});
export type FailedStep = z.output<typeof FailedStep>;
