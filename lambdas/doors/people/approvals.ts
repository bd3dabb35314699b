/**
 * Approve or reject what waits for a person: a restore, a plugin admission, a
 * scope grant. The approver is the caller's principal ARN (never a typed name);
 * the two-person rule is checked here, before anything reaches Step Functions,
 * and every answer and every refusal is audited with that ARN. Only this code
 * (the people's door function) answers the approval machines' task tokens.
 */
import * as z from 'zod';
import type { AuditSink } from '../../sessions/audit.ts';
import { decisionEvent } from '../../sessions/audit.ts';
import { RequestId, TwoPersonRuleError } from '../../sessions/scopes.ts';
import { ValidationError } from '../../shared/errors.ts';
import { parseOrThrow } from '../../shared/validation.ts';
import { type ApprovalKind, checkTwoPerson, type TwoPersonRule } from './two-person.ts';

/** Error names the approval machines' Catch states match (restore, plugin admission). */
export const REJECTION_ERRORS = { restore: 'ApprovalRejected', plugin: 'ApprovalDenied' } as const;

/** What waits: its task token, who asked for it, what it is. */
export interface Pending {
  readonly token: string;
  readonly requestedBy: string | null;
  readonly subject: string;
  readonly sessionId: string | null;
}

/** Where one kind parks its tokens. `find` throws NotFoundError/ConflictError when nothing waits. */
export interface PendingStore {
  find(id: string): Promise<Pending>;
  /** After an answer: the token is spent. */
  settle(id: string): Promise<void>;
}

export interface TaskAnswers {
  success(token: string, output: unknown): Promise<void>;
  failure(token: string, error: string, cause: string): Promise<void>;
}

export interface ApprovalDeps {
  readonly pending: Readonly<Record<ApprovalKind, PendingStore>>;
  readonly tasks: TaskAnswers;
  readonly twoPersonRule: TwoPersonRule;
  readonly audit: AuditSink;
}

/** An execution name (restore, plugin admission). */
const ExecutionName = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'an execution name: 1-80 letters, digits, "-" or "_"');

export const ApprovalId: Readonly<Record<ApprovalKind, z.ZodType<string>>> = {
  restore: ExecutionName,
  plugin: ExecutionName,
  scope: RequestId,
};

export const AnswerBody = z.strictObject({
  /** Restores only: release the session (default) or terminate its instance. */
  decision: z.enum(['release', 'terminate']).optional(),
  comment: z.string().max(1024).optional(),
});
export type AnswerBody = z.output<typeof AnswerBody>;

export type Verb = 'approve' | 'reject';

export interface Answered {
  readonly kind: ApprovalKind;
  readonly id: string;
  readonly verb: Verb;
  readonly by: string;
  readonly subject: string;
  readonly decision?: string;
}

/** The task output (or failure) each machine expects. */
function taskAnswer(kind: ApprovalKind, verb: Verb, by: string, body: AnswerBody) {
  const comment = body.comment ?? '';
  const cause = `${verb === 'approve' ? 'approved' : 'rejected'} by ${by}${comment ? `: ${comment}` : ''}`;
  switch (kind) {
    case 'restore':
      return verb === 'approve'
        ? { output: { decision: body.decision ?? 'release', approver: by, comment } }
        : { error: REJECTION_ERRORS.restore, cause };
    case 'plugin':
      return verb === 'approve' ? { output: { approvedBy: by } } : { error: REJECTION_ERRORS.plugin, cause };
    case 'scope':
      return { output: { approverArn: by, decision: verb, reason: comment || cause } };
  }
}

export async function answerApproval(
  deps: ApprovalDeps,
  kind: ApprovalKind,
  rawId: string,
  verb: Verb,
  by: string,
  body: AnswerBody,
): Promise<Answered> {
  const id = parseOrThrow(ApprovalId[kind], rawId, `${kind} approval id`);
  if (body.decision && (kind !== 'restore' || verb !== 'approve'))
    throw new ValidationError('decision is for approving a restore only', [
      { path: 'decision', message: 'only when approving a restore' },
    ]);
  const p = await deps.pending[kind].find(id);
  const who = { sessionId: p.sessionId, user: by };
  const input = { kind, id, verb, body };
  const action = `approval:${kind}:${verb}`;
  try {
    // Rejecting one's own request is allowed: it changes nothing but the requester's mind.
    if (verb === 'approve') checkTwoPerson(deps.twoPersonRule, kind, p.requestedBy, by, `${kind} ${id}`);
  } catch (e) {
    if (e instanceof TwoPersonRuleError)
      await deps.audit([decisionEvent(who, input, action, `${kind}/${id}`, 'deny', [`TWO_PERSON_RULE: ${e.message}`])]);
    throw e;
  }
  const a = taskAnswer(kind, verb, by, body);
  if ('output' in a) await deps.tasks.success(p.token, a.output);
  else await deps.tasks.failure(p.token, a.error, a.cause);
  await deps.pending[kind].settle(id);
  const decision = kind === 'restore' && verb === 'approve' ? (body.decision ?? 'release') : undefined;
  await deps.audit([
    decisionEvent(who, input, action, `${kind}/${id}`, 'allow', [
      `${verb === 'approve' ? 'approved' : 'rejected'} by ${by}${decision ? ` (${decision})` : ''}: ${p.subject}`,
      ...(p.requestedBy ? [`requested by ${p.requestedBy}`] : []),
    ]),
  ]);
  return { kind, id, verb, by, subject: p.subject, ...(decision ? { decision } : {}) };
}
