/**
 * The people's door: one request from API Gateway (a REST API, AWS_IAM on every
 * method, a resource policy admitting this account's principals, or only the
 * operator roles) to an answer. The caller is the IAM principal API Gateway
 * verified; it is the approver, the requester, the one who flips a flag,
 * recorded as its ARN. Which routes a principal may call is its role's
 * `execute-api:Invoke` grant (lib/constructs/operator-roles.ts).
 */
import type { AuditSink } from '../../sessions/audit.ts';
import { decisionEvent } from '../../sessions/audit.ts';
import type { SsmFlags } from '../../sessions/flags.ts';
import { ForbiddenError, NotFoundError } from '../../shared/errors.ts';
import { type DoorEvent, type DoorReply, jsonBody, ok, refusal } from '../guest/http.ts';
import { AnswerBody, type ApprovalDeps, answerApproval } from './approvals.ts';
import { callerArn } from './caller.ts';
import { FlagBody, putFlag } from './flags.ts';
import {
  type IncidentDeps,
  incidentStatus,
  RestoreBody,
  startRestore,
  startTombstone,
  TombstoneBody,
} from './incidents.ts';
import { APPROVAL_KINDS, type ApprovalKind } from './two-person.ts';

export interface PeopleDoorDeps extends ApprovalDeps, Omit<IncidentDeps, 'audit'> {
  readonly flags: SsmFlags;
  readonly audit: AuditSink;
}

type Route = (event: DoorEvent, by: string, deps: PeopleDoorDeps) => Promise<unknown>;

const param = (e: DoorEvent, name: string): string => {
  const v = (e as { pathParameters?: Record<string, string> | null }).pathParameters?.[name];
  if (!v) throw new NotFoundError(`missing path parameter ${name}`);
  return v;
};

function approvalKind(e: DoorEvent): ApprovalKind {
  const kind = param(e, 'kind');
  if (!(APPROVAL_KINDS as readonly string[]).includes(kind))
    throw new NotFoundError(`no approvals of kind ${kind}; known: ${APPROVAL_KINDS.join(', ')}`);
  return kind as ApprovalKind;
}

const answer =
  (verb: 'approve' | 'reject'): Route =>
  async (e, by, deps) =>
    await answerApproval(deps, approvalKind(e), param(e, 'id'), verb, by, jsonBody(e, AnswerBody, `${verb} body`));

export const PEOPLE_ROUTES: Readonly<Record<string, Route>> = {
  'POST /v1/approvals/{kind}/{id}/approve': answer('approve'),
  'POST /v1/approvals/{kind}/{id}/reject': answer('reject'),
  'POST /v1/incidents/tombstone': async (e, by, deps) =>
    await startTombstone(deps, jsonBody(e, TombstoneBody, 'tombstone request'), by),
  'POST /v1/incidents/restore': async (e, by, deps) =>
    await startRestore(deps, jsonBody(e, RestoreBody, 'restore request'), by),
  'GET /v1/incidents/{execution}': async (e, _by, deps) => await incidentStatus(deps, param(e, 'execution')),
  'PUT /v1/flags/{capability}': async (e, by, deps) =>
    await putFlag(deps, param(e, 'capability'), jsonBody(e, FlagBody, 'flag'), by),
};

/** The typed errors as answers; a two-person refusal is a 403 (it is about who asks). */
function peopleRefusal(e: unknown): DoorReply | undefined {
  if (!(e instanceof Error && e.name === 'TwoPersonRuleError')) return refusal(e);
  const forbidden = refusal(new ForbiddenError(e.message));
  return forbidden && { ...forbidden, body: JSON.stringify({ error: 'TwoPersonRuleError', message: e.message }) };
}

export async function servePeopleDoor(event: DoorEvent, deps: PeopleDoorDeps): Promise<DoorReply> {
  const name = `${event.httpMethod} ${event.resource}`;
  try {
    const route = PEOPLE_ROUTES[name];
    if (!route) throw new NotFoundError(`the people’s door has no route ${name}`);
    const by = callerArn(event);
    return ok(await route(event, by, deps));
  } catch (e) {
    if (e instanceof ForbiddenError)
      await deps.audit([
        decisionEvent(
          { sessionId: null, user: event.requestContext.identity.userArn ?? null },
          { route: name },
          `door:${name}`,
          'people-door',
          'deny',
          [e.message],
        ),
      ]);
    const reply = peopleRefusal(e);
    if (!reply) throw e;
    return reply;
  }
}
