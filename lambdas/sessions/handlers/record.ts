/** Session workflow: record a status change and audit the step. Env: SESSION_TABLE, AUDIT_BUS_NAME. */
import * as z from 'zod';
import { makeHandler } from '../../shared/middleware.ts';
import { SessionContext, STATUSES } from '../model.ts';
import { recordStep } from '../steps.ts';
import { audit, table } from './deps.ts';

export const handler = makeHandler({
  inputName: 'record input',
  input: z.object({
    session: SessionContext,
    status: z.enum(STATUSES),
    step: z.string().min(1).max(200),
    instanceId: z.string().optional(),
    note: z.string().max(1000).optional(),
    endToken: z.string().max(8192).optional(),
    remainingSeconds: z.number().optional(),
  }),
  core: async (input) => await recordStep(input, { table: table(), audit: audit() }),
});
