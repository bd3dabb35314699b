/**
 * A tombstone that ends unsuccessfully (failed, timed out, aborted) gives its
 * session lock back, so the next event about the session can start one (a
 * person was paged by the failure). An EventBridge rule on the tombstone
 * machine's "Step Functions Execution Status Change" events invokes this; only
 * the lock this execution holds is released (a newer one stays).
 */
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { awsCall } from '../../shared/aws-errors.ts';
import { SessionId } from '../../shared/ids.ts';
import type { IncidentStore } from '../incidents.ts';

export const UNSUCCESSFUL = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;

const StatusChange = z.looseObject({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.looseObject({
    executionArn: z.string().min(1),
    name: z.string().min(1).max(80),
    status: z.enum(UNSUCCESSFUL),
    /** The execution input as JSON text (EventBridge may leave it out when it is large). */
    input: z.string().nullable().optional(),
  }),
});

const TombstoneInput = z.looseObject({ sessionId: SessionId });

export interface ReleaseLockResult {
  readonly outcome: 'released' | 'not-held' | 'ignored';
  readonly sessionId: string | null;
  readonly executionName: string | null;
  readonly reason?: string;
}

export interface ReleaseLockDeps {
  readonly store: IncidentStore;
  /** Reads the execution's input when the event does not carry it. */
  readonly sfn: SFNClient;
}

function sessionOf(input: string | null | undefined): string | null {
  if (!input) return null;
  try {
    const parsed = TombstoneInput.safeParse(JSON.parse(input));
    return parsed.success ? parsed.data.sessionId : null;
  } catch {
    return null;
  }
}

export async function releaseLockOnFailure(deps: ReleaseLockDeps, raw: unknown): Promise<ReleaseLockResult> {
  const parsed = StatusChange.safeParse(raw);
  if (!parsed.success)
    return {
      outcome: 'ignored',
      sessionId: null,
      executionName: null,
      reason: 'not an unsuccessful execution status change',
    };
  const d = parsed.data.detail;
  let sessionId = sessionOf(d.input);
  if (!sessionId) {
    const ex = await awsCall('states:DescribeExecution', () =>
      deps.sfn.send(new DescribeExecutionCommand({ executionArn: d.executionArn })),
    );
    sessionId = sessionOf(ex.input);
  }
  if (!sessionId)
    return { outcome: 'ignored', sessionId: null, executionName: d.name, reason: 'the execution names no session' };
  const released = await deps.store.releaseSessionIf(sessionId, d.name);
  return { outcome: released ? 'released' : 'not-held', sessionId, executionName: d.name };
}
