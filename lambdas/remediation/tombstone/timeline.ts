/** The execution's own history as evidence: state entries and exits, retries and failures, with timestamps. */
import { GetExecutionHistoryCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { awsCall } from '../../shared/aws-errors.ts';

export interface TimelineEntry {
  readonly time: string;
  readonly type: string;
  readonly state?: string;
  readonly error?: string;
}

export async function executionTimeline(sfn: SFNClient, executionArn: string): Promise<TimelineEntry[]> {
  const out: TimelineEntry[] = [];
  let next: string | undefined;
  do {
    const page = await awsCall('states:GetExecutionHistory', () =>
      sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken: next, maxResults: 1000 })),
    );
    for (const e of page.events ?? []) {
      const type = String(e.type ?? '');
      if (!/StateEntered|StateExited|Retried|Failed|Caught|ExecutionStarted|TaskSubmitted/.test(type)) continue;
      const ev = e as typeof e & { stateName?: string; error?: string };
      const state = e.stateEnteredEventDetails?.name ?? e.stateExitedEventDetails?.name ?? ev.stateName;
      const time =
        e.timestamp instanceof Date ? e.timestamp.toISOString() : new Date(Number(e.timestamp) * 1000).toISOString();
      out.push({ time, type, ...(state ? { state } : {}), ...(ev.error ? { error: ev.error } : {}) });
    }
    next = page.nextToken;
  } while (next);
  return out;
}
