/** Session workflow: teardown (every path ends here). Env: SESSION_TABLE, SECRET_PREFIX, AUDIT_BUS_NAME. */
import * as z from 'zod';
import { makeHandler } from '../../shared/middleware.ts';
import { teardown } from '../teardown.ts';
import { audit, ec2, env, secrets, table } from './deps.ts';

export const handler = makeHandler({
  inputName: 'teardown input',
  input: z.object({
    sessionId: z.string().min(1).max(128),
    executionArn: z.string().optional(),
    user: z.string().optional(),
    policyVersion: z.string().optional(),
    reason: z.string().min(1).max(4000),
    outcome: z.enum(['ended', 'failed', 'tombstoned']),
    keepInstance: z.boolean().optional(),
  }),
  core: async (input) =>
    await teardown(input, {
      ec2: ec2(),
      secrets: secrets(),
      table: table(),
      audit: audit(),
      secretPrefix: env('SECRET_PREFIX'),
    }),
});
