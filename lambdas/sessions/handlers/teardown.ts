/** Session workflow: teardown (every path after admission ends here). Env: SESSION_TABLE, SECRET_PREFIX, AUDIT_BUS_NAME. */
import * as z from 'zod';
import { requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { TeardownDirective, teardown, teardownReason } from '../teardown.ts';
import { audit, ec2, secrets, table } from './deps.ts';

export const handler = makeHandler({
  inputName: 'teardown input',
  input: z.object({
    sessionId: z.string().min(1).max(128),
    executionArn: z.string().optional(),
    user: z.string().optional(),
    policyVersion: z.string().optional(),
    teardown: TeardownDirective,
  }),
  core: async (input) =>
    await teardown(
      {
        sessionId: input.sessionId,
        ...(input.executionArn ? { executionArn: input.executionArn } : {}),
        ...(input.user ? { user: input.user } : {}),
        ...(input.policyVersion ? { policyVersion: input.policyVersion } : {}),
        reason: teardownReason(input.teardown),
        outcome: input.teardown.outcome,
        keepInstance: input.teardown.keepInstance ?? false,
      },
      { ec2: ec2(), secrets: secrets(), table: table(), audit: audit(), secretPrefix: requireEnv('SECRET_PREFIX') },
    ),
});
