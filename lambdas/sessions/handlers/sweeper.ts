/**
 * Scheduled orphan sweeper. Env: SESSION_TABLE, SECRET_PREFIX, AUDIT_BUS_NAME,
 * DRY_RUN ("true" | "false"), GRACE_SECONDS. An input `{ "dryRun": false }` overrides DRY_RUN for one run.
 */
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { makeHandler } from '../../shared/middleware.ts';
import { sweep } from '../sweeper.ts';
import { audit, ec2, env, secrets, sfn, table } from './deps.ts';

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
      secretPrefix: env('SECRET_PREFIX'),
      executionStatus: async (arn) =>
        (
          await sfn()
            .send(new DescribeExecutionCommand({ executionArn: arn }))
            .catch(() => undefined)
        )?.status,
      dryRun: input.dryRun ?? process.env.DRY_RUN !== 'false',
      graceSeconds: Number(process.env.GRACE_SECONDS ?? '600'),
    }),
});
