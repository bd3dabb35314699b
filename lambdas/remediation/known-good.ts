/**
 * Known-good snapshots on a schedule: one EventBridge Scheduler schedule invokes
 * this fan-out every few minutes; it starts an aidops-snapshot execution for each
 * active (running) session whose profile interval has a new bucket. The execution
 * name is `kg-<session>-<bucket>`, so a second tick in the same interval, a
 * retried invocation or two overlapping ticks start nothing new: no state kept.
 */
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { Tags, tagValue } from '../shared/tags.ts';
import { RemediationTags } from './tags.ts';

export const KnownGoodConfig = z.strictObject({
  snapshotMachineArn: z.string().min(1),
  /** Seconds per profile; `default` applies to profiles not listed. */
  intervals: z.record(z.string(), z.number().int().min(60)),
  retentionSeconds: z.number().int().min(3600),
});
export type KnownGoodConfig = z.output<typeof KnownGoodConfig>;

export interface KnownGoodResult {
  readonly considered: number;
  readonly started: { sessionId: string; executionName: string }[];
  readonly skipped: { sessionId: string; why: string }[];
}

export function knownGoodExecutionName(sessionId: string, bucket: number): string {
  return `kg-${sessionId.slice(0, 64)}-${bucket}`.slice(0, 80);
}

export async function startKnownGood(
  ec2: EC2Client,
  sfn: SFNClient,
  cfg: KnownGoodConfig,
  now: Date = new Date(),
): Promise<KnownGoodResult> {
  const started: KnownGoodResult['started'] = [];
  const skipped: KnownGoodResult['skipped'] = [];
  let considered = 0;
  let next: string | undefined;
  do {
    const page = await awsCall('ec2:DescribeInstances', () =>
      ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: 'tag-key', Values: [Tags.SessionId] },
            { Name: 'instance-state-name', Values: ['running'] },
          ],
          NextToken: next,
        }),
      ),
    );
    for (const inst of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
      const sessionId = tagValue(inst.Tags, Tags.SessionId);
      if (!sessionId || !inst.InstanceId) continue;
      considered++;
      // A quarantined session is not known-good: snapshotting it would offer a compromised restore point.
      if (tagValue(inst.Tags, RemediationTags.QuarantinedAt)) {
        skipped.push({ sessionId, why: 'quarantined' });
        continue;
      }
      const profile = tagValue(inst.Tags, Tags.Profile) ?? 'default';
      const interval = cfg.intervals[profile] ?? cfg.intervals.default;
      if (!interval) {
        skipped.push({ sessionId, why: `no interval for profile ${profile}` });
        continue;
      }
      const bucket = Math.floor(now.getTime() / 1000 / interval);
      const name = knownGoodExecutionName(sessionId, bucket);
      const input = {
        sessionId,
        instanceId: inst.InstanceId,
        reason: `known-good (${profile}, every ${interval} s)`,
        expiresAt: new Date(now.getTime() + cfg.retentionSeconds * 1000).toISOString(),
        knownGood: true,
      };
      try {
        await awsCall('states:StartExecution', () =>
          sfn.send(
            new StartExecutionCommand({ stateMachineArn: cfg.snapshotMachineArn, name, input: JSON.stringify(input) }),
          ),
        );
        started.push({ sessionId, executionName: name });
      } catch (e) {
        // Same bucket, another tick (a different expiresAt makes the input differ): already taken.
        if ((e as Error).name !== 'ExecutionAlreadyExists') throw e;
        skipped.push({ sessionId, why: 'already taken in this interval' });
      }
    }
    next = page.NextToken;
  } while (next);
  return { considered, started, skipped };
}
