/**
 * Scheduled orphan sweeper. Env: SESSION_TABLE, SECRET_PREFIX, AUDIT_BUS_NAME,
 * DRY_RUN ("true" | "false"), GRACE_SECONDS. An input `{ "dryRun": false }` overrides DRY_RUN for one run.
 */
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { awsCall } from '../../shared/aws-errors.ts';
import { booleanEnv, numberEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler, metric } from '../../shared/middleware.ts';
import { sweep } from '../sweeper.ts';
import { audit, ec2, secrets, sfn, table } from './deps.ts';

export const handler = makeHandler({
  inputName: 'sweeper input',
  // Scheduled events carry EventBridge fields; only dryRun is read.
  input: z.looseObject({ dryRun: z.boolean().optional() }),
  core: async (input) =>
    await sweep({
      ec2: ec2(),
      secrets: secrets(),
      table: table(),
      audit: audit(),
      secretPrefix: requireEnv('SECRET_PREFIX'),
      // Unknown (purged, or unreadable): liveness is then judged by the session record alone.
      executionStatus: async (arn) =>
        (
          await awsCall('DescribeExecution', () =>
            sfn().send(new DescribeExecutionCommand({ executionArn: arn })),
          ).catch(() => undefined)
        )?.status,
      dryRun: input.dryRun ?? booleanEnv('DRY_RUN', true),
      graceSeconds: numberEnv('GRACE_SECONDS', 600),
      metric,
    }),
});
