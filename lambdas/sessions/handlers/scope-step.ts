/**
 * The scope-grant workflow's steps (workflows/scope-grant.ts), one function:
 *   request   record the pending request (request id = the execution name)
 *   park      put the approval wait's task token on the request item
 *   answer    the approver's answer (SendTaskSuccess output): grant or reject
 *   refused   an answer was refused; the request stays pending until its deadline
 *   expire    nobody answered in time, or the wait failed
 * Env: SESSION_TABLE, SCOPE_REQUEST_TABLE, AUDIT_BUS_NAME.
 */
import * as z from 'zod';
import { requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import {
  answerScopeRequest,
  approvalRefused,
  expireScopeRequest,
  parkApprovalToken,
  RequestId,
  requestScope,
  type ScopeRequestInput,
  type ScopeStoreDeps,
} from '../scopes.ts';
import { audit, ddb, table } from './deps.ts';

const deps = (): ScopeStoreDeps => ({
  ddb: ddb(),
  requestTable: requireEnv('SCOPE_REQUEST_TABLE'),
  sessions: table(),
  audit: audit(),
});

export const ScopeStepInput = z.discriminatedUnion('step', [
  // The request's own fields are checked by the core (ScopeRequestInput), naming each.
  z.strictObject({ step: z.literal('request'), requestId: RequestId, input: z.record(z.string(), z.unknown()) }),
  z.strictObject({
    step: z.literal('park'),
    requestId: RequestId,
    taskToken: z.string().min(1).max(8192),
    executionArn: z.string().min(1).max(2048),
    /** The wait's timeout (the workflow reads it from here); not used by the step. */
    remainingSeconds: z.number().optional(),
  }),
  z.strictObject({ step: z.literal('answer'), requestId: RequestId, approval: z.unknown() }),
  z.strictObject({
    step: z.literal('refused'),
    requestId: RequestId,
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
  }),
  z.strictObject({ step: z.literal('expire'), requestId: RequestId, reason: z.string().min(1).max(4096) }),
]);

export const handler = makeHandler({
  inputName: 'scope-grant step',
  input: ScopeStepInput,
  core: async (input) => {
    switch (input.step) {
      case 'request':
        // The execution name is the request id (the guest door and the people's door start it so).
        return await requestScope(deps(), { ...input.input, requestId: input.requestId } as ScopeRequestInput);
      case 'park':
        return await parkApprovalToken(deps(), input.requestId, input.taskToken, input.executionArn);
      case 'answer':
        return await answerScopeRequest(deps(), input.requestId, input.approval);
      case 'refused':
        return await approvalRefused(deps(), input.requestId, input.error);
      case 'expire':
        return await expireScopeRequest(deps(), input.requestId, input.reason);
    }
  },
});
