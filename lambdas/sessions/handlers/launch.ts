/** Session workflow: RunInstances (idempotent). Env: SUBNET_IDS (comma-separated), SESSION_TABLE, AUDIT_BUS_NAME. */
import * as z from 'zod';
import { requireEnv } from '../../shared/env.ts';
import { makeHandler, metric } from '../../shared/middleware.ts';
import { launch } from '../launch.ts';
import { SessionContext } from '../model.ts';
import { audit, ec2, ssm, table } from './deps.ts';

export const handler = makeHandler({
  inputName: 'launch input',
  input: z.object({ session: SessionContext }),
  core: async ({ session }) =>
    await launch(session, {
      ec2: ec2(),
      ssm: ssm(),
      table: table(),
      audit: audit(),
      subnetIds: requireEnv('SUBNET_IDS').split(',').filter(Boolean),
      metric,
    }),
});
