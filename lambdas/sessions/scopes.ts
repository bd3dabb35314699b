/**
 * Scope grants: the only way a session comes to hold a scope (e.g. `write:/finance`,
 * which the seed policy asks of writes under /finance).
 *
 *   requestScope   the agent (through the guest door) or a person asks; a pending request, audited
 *   grantScope     a second principal approves: pending → granted with an expiry, in one transaction
 *                  with the grant on the session item; the approver must not be the requester
 *                  (two-person rule, TwoPersonRuleError), audited
 *   rejectScope / expireScopeRequest   pending → rejected / expired, audited
 *   revokeScope    the grant leaves the session item (the request says revoked), audited
 *   activeScopes   what a session holds at a given time: expired grants are not held
 *
 * Requests live in the scope-request table (key `requestId`); the workflow
 * `aidops-scope-grant` (workflows/scope-grant.ts) parks its approval task token on
 * the request item (`taskToken`), where the people's door finds it and answers with
 * SendTaskSuccess({ approverArn, decision, reason }) (`ApprovalPayload`). Grants live
 * on the session item (`scopes.<scope>`), so the decider reads a session's whole
 * state with one GetItem.
 */
import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { stepEvent } from '../audit/step-event.ts';
import { Scope } from '../policy/model.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { AidopsError, ConflictError, NotFoundError } from '../shared/errors.ts';
import { SessionId } from '../shared/ids.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { type AuditSink, decisionEvent } from './audit.ts';
import { AUDIT_SOURCE, LIVE } from './model.ts';
import type { ScopeGrant, SessionItem, SessionTable } from './table.ts';

/** The scope-grant workflow as audit events label it; its physical name is in lambdas/shared/names.ts. */
export const SCOPE_GRANT_MACHINE = 'aidops-scope-grant';
/** Longest a grant may last; a grant never outlives its session either. */
export const MAX_SCOPE_TTL_SECONDS = 12 * 3600;
export const DEFAULT_SCOPE_TTL_SECONDS = 3600;
/** Longest a request may wait for an approver. */
export const MAX_APPROVAL_SECONDS = 7 * 86_400;
export const DEFAULT_APPROVAL_SECONDS = 86_400;
/** Decided requests are purged by DynamoDB TTL after this; the audit trail is the record. */
const PURGE_AFTER_S = 90 * 86_400;

/** An approval from a different principal than the requester is required; never retried. */
export class TwoPersonRuleError extends AidopsError {
  override name = 'TwoPersonRuleError' as const;
}

/** Names the scope-grant workflow's Catch matches. */
export const ScopeErrorNames = { TwoPersonRule: 'TwoPersonRuleError' } as const;

/** Who asked or answered: an IAM principal ARN (people, the guest's instance-profile session) or a service id. */
const Principal = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[A-Za-z0-9@._+:=,/-]+$/, 'a principal (ARN or id: letters, digits, @ . _ + : = , / -)');
const PrincipalArn = z
  .string()
  .max(512)
  .regex(
    /^arn:[a-z-]+:(iam|sts)::[0-9]{12}:(user|role|assumed-role|federated-user)\/[A-Za-z0-9+=,.@_/-]+$/,
    'an IAM principal ARN (user, role, assumed-role or federated-user)',
  );
const Reason = z.string().min(1).max(1024);
export const RequestId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{2,79}$/, 'request id: 3-80 letters, digits, "-" or "_"');

export const ScopeRequestInput = z.strictObject({
  sessionId: SessionId,
  scope: Scope,
  requestedBy: Principal,
  reason: Reason,
  /** How long the grant lasts once approved. */
  ttlSeconds: z.int().min(60).max(MAX_SCOPE_TTL_SECONDS).default(DEFAULT_SCOPE_TTL_SECONDS),
  /** How long the request waits for an approver. */
  approvalTimeoutSeconds: z.int().min(1).max(MAX_APPROVAL_SECONDS).default(DEFAULT_APPROVAL_SECONDS),
  /** @default a new UUID (the workflow passes its execution name) */
  requestId: RequestId.optional(),
});
export type ScopeRequestInput = z.input<typeof ScopeRequestInput>;

/** What the people's door sends with SendTaskSuccess; the grant step checks it. */
export const ApprovalPayload = z.strictObject({
  /** The caller's IAM principal, from the request context: never a typed name. */
  approverArn: PrincipalArn,
  decision: z.enum(['approve', 'reject']),
  reason: Reason,
});
export type ApprovalPayload = z.input<typeof ApprovalPayload>;

export const SCOPE_REQUEST_STATUSES = ['pending', 'granted', 'rejected', 'expired', 'revoked'] as const;
export type ScopeRequestStatus = (typeof SCOPE_REQUEST_STATUSES)[number];

export interface ScopeRequest {
  readonly requestId: string;
  readonly sessionId: string;
  readonly scope: string;
  readonly requestedBy: string;
  readonly reason: string;
  readonly status: ScopeRequestStatus;
  readonly requestedAt: string;
  readonly ttlSeconds: number;
  /** When a pending request lapses. */
  readonly approvalDeadline: string;
  /** Whole seconds until the deadline (0 when passed): the workflow's wait timeout. */
  readonly remainingSeconds: number;
  readonly decidedBy?: string;
  readonly decidedAt?: string;
  readonly decisionReason?: string;
  /** When the grant ends (granted only). */
  readonly expiresAt?: string;
}

export interface ActiveScope extends ScopeGrant {
  readonly scope: string;
}

export interface ScopeStoreDeps {
  readonly ddb: DynamoDBClient;
  /** The scope-request table. */
  readonly requestTable: string;
  readonly sessions: SessionTable;
  readonly audit: AuditSink;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** Scopes a session holds at `now`, sorted by scope: expired grants are not held. */
export function activeScopes(session: Pick<SessionItem, 'scopes'>, now: Date): ActiveScope[] {
  const t = now.getTime();
  return Object.entries(session.scopes ?? {})
    .filter(([, g]) => Date.parse(g.expiresAt) > t)
    .map(([scope, g]) => ({ scope, ...g }))
    .sort((a, b) => a.scope.localeCompare(b.scope));
}

/**
 * The same principal, whichever way it is spelled: ARNs compare case-insensitively
 * (IAM names are unique regardless of case) and across partitions' spelling.
 */
export function samePrincipal(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });
const str = (item: Record<string, AttributeValue>, k: string): string | undefined => item[k]?.S;

function toRequest(item: Record<string, AttributeValue>, now: Date): ScopeRequest {
  const deadline = str(item, 'approvalDeadline') ?? '';
  const opt = (k: 'decidedBy' | 'decidedAt' | 'decisionReason' | 'expiresAt') => {
    const v = str(item, k);
    return v ? { [k]: v } : {};
  };
  return {
    requestId: str(item, 'requestId') ?? '',
    sessionId: str(item, 'sessionId') ?? '',
    scope: str(item, 'scope') ?? '',
    requestedBy: str(item, 'requestedBy') ?? '',
    reason: str(item, 'reason') ?? '',
    status: (str(item, 'status') ?? 'pending') as ScopeRequestStatus,
    requestedAt: str(item, 'requestedAt') ?? '',
    ttlSeconds: Number(item.ttlSeconds?.N ?? DEFAULT_SCOPE_TTL_SECONDS),
    approvalDeadline: deadline,
    remainingSeconds: Math.max(0, Math.ceil((Date.parse(deadline) - now.getTime()) / 1000)),
    ...opt('decidedBy'),
    ...opt('decidedAt'),
    ...opt('decisionReason'),
    ...opt('expiresAt'),
  };
}

const clock = (deps: ScopeStoreDeps): Date => deps.now?.() ?? new Date();
const who = (r: Pick<ScopeRequest, 'sessionId'>, user: string) => ({ sessionId: r.sessionId, user });
const resourceOf = (r: Pick<ScopeRequest, 'scope'>) => `scope:${r.scope}`;

async function readRequest(deps: ScopeStoreDeps, requestId: string): Promise<Record<string, AttributeValue>> {
  const r = await awsCall('dynamodb:GetItem scope request', () =>
    deps.ddb.send(
      new GetItemCommand({ TableName: deps.requestTable, Key: { requestId: S(requestId) }, ConsistentRead: true }),
    ),
  );
  if (!r.Item) throw new NotFoundError(`no scope request ${requestId}`, { requestId });
  return r.Item;
}

export async function getScopeRequest(deps: ScopeStoreDeps, requestId: string): Promise<ScopeRequest> {
  return toRequest(await readRequest(deps, requestId), clock(deps));
}

/**
 * Records a pending request for a live session. Idempotent by request id: the same
 * request again returns the stored one; a different one under that id is a ConflictError.
 */
export async function requestScope(deps: ScopeStoreDeps, input: ScopeRequestInput): Promise<ScopeRequest> {
  const req = parseOrThrow(ScopeRequestInput, input, 'scope request');
  const now = clock(deps);
  const session = await deps.sessions.mustGet(req.sessionId);
  if (!(LIVE as readonly string[]).includes(session.status))
    throw new ConflictError(`session ${req.sessionId} is ${session.status}; only a live session can hold a scope`, {
      sessionId: req.sessionId,
      status: session.status,
    });
  const requestId = req.requestId ?? randomUUID();
  const deadline = new Date(now.getTime() + req.approvalTimeoutSeconds * 1000);
  const item: Record<string, AttributeValue> = {
    requestId: S(requestId),
    sessionId: S(req.sessionId),
    scope: S(req.scope),
    requestedBy: S(req.requestedBy),
    reason: S(req.reason),
    status: S('pending'),
    requestedAt: S(now.toISOString()),
    ttlSeconds: N(req.ttlSeconds),
    approvalDeadline: S(deadline.toISOString()),
    purgeAt: N(Math.floor(deadline.getTime() / 1000) + PURGE_AFTER_S),
  };
  try {
    await awsCall('dynamodb:PutItem scope request', () =>
      deps.ddb.send(
        new PutItemCommand({
          TableName: deps.requestTable,
          Item: item,
          ConditionExpression: 'attribute_not_exists(requestId)',
        }),
      ),
    );
  } catch (e) {
    if (!(e instanceof ConditionalCheckFailedException)) throw e;
    const cur = await getScopeRequest(deps, requestId);
    if (cur.sessionId === req.sessionId && cur.scope === req.scope && samePrincipal(cur.requestedBy, req.requestedBy))
      return cur;
    throw new ConflictError(`scope request ${requestId} exists for another session, scope or requester`, {
      requestId,
    });
  }
  const stored = toRequest(item, now);
  await deps.audit([
    stepEvent(
      {
        source: AUDIT_SOURCE,
        stateMachine: SCOPE_GRANT_MACHINE,
        executionId: requestId,
        sessionId: req.sessionId,
        requestedBy: req.requestedBy,
      },
      `scope ${req.scope} requested for ${req.ttlSeconds} s: ${req.reason}`,
      'started',
      { time: now },
    ),
  ]);
  return stored;
}

/**
 * Grants a pending request: the request becomes `granted` with `expiresAt` and the
 * grant lands on the session item, both or neither (one transaction, each write
 * conditional). The grant lasts `ttlSeconds` (the request's by default), never
 * beyond MAX_SCOPE_TTL_SECONDS or the session's own expiry.
 * Throws TwoPersonRuleError (audited) when the approver is the requester,
 * ConflictError when the request is no longer pending or the session no longer live.
 */
export async function grantScope(
  deps: ScopeStoreDeps,
  requestId: string,
  approverArn: string,
  ttlSeconds?: number,
): Promise<ScopeRequest> {
  const approver = parseOrThrow(PrincipalArn, approverArn, 'approver ARN');
  const now = clock(deps);
  const cur = await getScopeRequest(deps, requestId);
  if (samePrincipal(cur.requestedBy, approver)) {
    await deps.audit([
      decisionEvent(who(cur, approver), { requestId, approver }, 'scope_grant', resourceOf(cur), 'deny', [
        `TWO_PERSON_RULE: ${approver} requested ${cur.scope} and cannot approve it`,
      ]),
    ]);
    throw new TwoPersonRuleError(`the requester of scope request ${requestId} cannot approve it`, {
      requestId,
      approverArn: approver,
    });
  }
  if (cur.status !== 'pending')
    throw new ConflictError(`scope request ${requestId} is ${cur.status}, not pending`, {
      requestId,
      status: cur.status,
    });
  const session = await deps.sessions.mustGet(cur.sessionId);
  const ttl = Math.min(Math.max(ttlSeconds ?? cur.ttlSeconds, 1), MAX_SCOPE_TTL_SECONDS);
  let expires = now.getTime() + ttl * 1000;
  if (session.expiresAt) expires = Math.min(expires, Date.parse(session.expiresAt));
  const expiresAt = new Date(expires).toISOString();
  const grant: Record<string, AttributeValue> = {
    requestId: S(requestId),
    expiresAt: S(expiresAt),
    grantedBy: S(approver),
    grantedAt: S(now.toISOString()),
  };
  const sessionTable = deps.sessions.tableName;
  // Nested writes need the map to exist; creating it is harmless if the grant then fails.
  await awsCall('dynamodb:UpdateItem session scopes', () =>
    deps.ddb.send(
      new UpdateItemCommand({
        TableName: sessionTable,
        Key: { sessionId: S(cur.sessionId) },
        UpdateExpression: 'SET scopes = if_not_exists(scopes, :empty)',
        ConditionExpression: 'attribute_exists(sessionId)',
        ExpressionAttributeValues: { ':empty': { M: {} } },
      }),
    ),
  );
  const live: Record<string, AttributeValue> = {};
  LIVE.forEach((s, i) => {
    live[`:l${i}`] = S(s);
  });
  try {
    await awsCall('dynamodb:TransactWriteItems scope grant', () =>
      deps.ddb.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Update: {
                TableName: deps.requestTable,
                Key: { requestId: S(requestId) },
                UpdateExpression:
                  'SET #st = :granted, decidedBy = :by, decidedAt = :at, expiresAt = :exp, purgeAt = :purge REMOVE taskToken',
                // The rule again, in the write itself: no race lets the requester through.
                ConditionExpression: '#st = :pending AND requestedBy <> :by',
                ExpressionAttributeNames: { '#st': 'status' },
                ExpressionAttributeValues: {
                  ':granted': S('granted'),
                  ':pending': S('pending'),
                  ':by': S(approver),
                  ':at': S(now.toISOString()),
                  ':exp': S(expiresAt),
                  ':purge': N(Math.floor(expires / 1000) + PURGE_AFTER_S),
                },
              },
            },
            {
              Update: {
                TableName: sessionTable,
                Key: { sessionId: S(cur.sessionId) },
                UpdateExpression: 'SET scopes.#scope = :grant',
                ConditionExpression: `attribute_exists(sessionId) AND #st IN (${Object.keys(live).join(', ')})`,
                ExpressionAttributeNames: { '#scope': cur.scope, '#st': 'status' },
                ExpressionAttributeValues: { ':grant': { M: grant }, ...live },
              },
            },
          ],
        }),
      ),
    );
  } catch (e) {
    if (!(e instanceof TransactionCanceledException)) throw e;
    const [req, sess] = e.CancellationReasons ?? [];
    if (sess?.Code === 'ConditionalCheckFailed' && req?.Code !== 'ConditionalCheckFailed')
      throw new ConflictError(`session ${cur.sessionId} is no longer live; scope ${cur.scope} not granted`, {
        requestId,
        sessionId: cur.sessionId,
      });
    throw new ConflictError(`scope request ${requestId} changed while it was being granted`, { requestId });
  }
  await deps.audit([
    decisionEvent(who(cur, approver), { requestId, approver, expiresAt }, 'scope_grant', resourceOf(cur), 'allow', [
      `approved by ${approver}`,
      `requested by ${cur.requestedBy}: ${cur.reason}`,
      `expires ${expiresAt}`,
    ]),
  ]);
  return { ...cur, status: 'granted', decidedBy: approver, decidedAt: now.toISOString(), expiresAt };
}

/** Closes a pending request (rejected or expired). Not pending: returns it as it is, unaudited. */
async function closePending(
  deps: ScopeStoreDeps,
  requestId: string,
  status: 'rejected' | 'expired',
  by: string,
  reason: string,
  auditReason: string,
): Promise<ScopeRequest> {
  const now = clock(deps);
  try {
    const r = await awsCall('dynamodb:UpdateItem scope request', () =>
      deps.ddb.send(
        new UpdateItemCommand({
          TableName: deps.requestTable,
          Key: { requestId: S(requestId) },
          UpdateExpression: 'SET #st = :st, decidedBy = :by, decidedAt = :at, decisionReason = :why REMOVE taskToken',
          ConditionExpression: '#st = :pending',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: {
            ':st': S(status),
            ':pending': S('pending'),
            ':by': S(by),
            ':at': S(now.toISOString()),
            ':why': S(reason.slice(0, 1024) || '-'),
          },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    const closed = toRequest(r.Attributes ?? {}, now);
    await deps.audit([
      decisionEvent(who(closed, by), { requestId, status, by }, 'scope_grant', resourceOf(closed), 'deny', [
        auditReason,
      ]),
    ]);
    return closed;
  } catch (e) {
    if (!(e instanceof ConditionalCheckFailedException)) throw e;
    return await getScopeRequest(deps, requestId);
  }
}

/** An approver said no (a requester may also withdraw their own request). */
export async function rejectScope(
  deps: ScopeStoreDeps,
  requestId: string,
  approverArn: string,
  reason: string,
): Promise<ScopeRequest> {
  const by = parseOrThrow(PrincipalArn, approverArn, 'approver ARN');
  return await closePending(deps, requestId, 'rejected', by, reason, `rejected by ${by}: ${reason}`);
}

/** Nobody answered in time (or the approval could not complete). */
export async function expireScopeRequest(
  deps: ScopeStoreDeps,
  requestId: string,
  reason: string,
): Promise<ScopeRequest> {
  return await closePending(deps, requestId, 'expired', SCOPE_GRANT_MACHINE, reason, `APPROVAL_TIMEOUT: ${reason}`);
}

/** Takes a granted scope back before its expiry. NotFoundError when the session does not hold it. */
export async function revokeScope(
  deps: ScopeStoreDeps,
  input: { readonly sessionId: string; readonly scope: string; readonly revokedBy: string; readonly reason: string },
): Promise<{ sessionId: string; scope: string; requestId: string }> {
  const scope = parseOrThrow(Scope, input.scope, 'scope');
  const by = parseOrThrow(Principal, input.revokedBy, 'revokedBy');
  const now = clock(deps);
  let old: Record<string, AttributeValue> | undefined;
  try {
    const r = await awsCall('dynamodb:UpdateItem session scopes', () =>
      deps.ddb.send(
        new UpdateItemCommand({
          TableName: deps.sessions.tableName,
          Key: { sessionId: S(input.sessionId) },
          UpdateExpression: 'REMOVE scopes.#scope',
          ConditionExpression: 'attribute_exists(scopes.#scope)',
          ExpressionAttributeNames: { '#scope': scope },
          ReturnValues: 'UPDATED_OLD',
        }),
      ),
    );
    old = r.Attributes?.scopes?.M?.[scope]?.M;
  } catch (e) {
    if (!(e instanceof ConditionalCheckFailedException)) throw e;
    throw new NotFoundError(`session ${input.sessionId} does not hold scope ${scope}`, {
      sessionId: input.sessionId,
      scope,
    });
  }
  const requestId = old?.requestId?.S ?? '';
  if (requestId) {
    try {
      await awsCall('dynamodb:UpdateItem scope request', () =>
        deps.ddb.send(
          new UpdateItemCommand({
            TableName: deps.requestTable,
            Key: { requestId: S(requestId) },
            UpdateExpression: 'SET #st = :revoked, revokedBy = :by, revokedAt = :at, decisionReason = :why',
            ConditionExpression: '#st = :granted',
            ExpressionAttributeNames: { '#st': 'status' },
            ExpressionAttributeValues: {
              ':revoked': S('revoked'),
              ':granted': S('granted'),
              ':by': S(by),
              ':at': S(now.toISOString()),
              ':why': S(input.reason.slice(0, 1024) || '-'),
            },
          }),
        ),
      );
    } catch (e) {
      // The grant is gone from the session, which is what decisions read; the request record is history.
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
    }
  }
  await deps.audit([
    decisionEvent(
      { sessionId: input.sessionId, user: by },
      { sessionId: input.sessionId, scope, by },
      'scope_revoke',
      `scope:${scope}`,
      'allow',
      [`revoked by ${by}: ${input.reason}`],
    ),
  ]);
  return { sessionId: input.sessionId, scope, requestId };
}

/**
 * The workflow's wait parks its task token on the pending request, where the
 * people's door reads it (with the execution, for SendTaskSuccess/Failure).
 * ConflictError when the request is no longer pending.
 */
export async function parkApprovalToken(
  deps: ScopeStoreDeps,
  requestId: string,
  taskToken: string,
  executionArn: string,
): Promise<{ parked: true }> {
  try {
    await awsCall('dynamodb:UpdateItem scope request', () =>
      deps.ddb.send(
        new UpdateItemCommand({
          TableName: deps.requestTable,
          Key: { requestId: S(requestId) },
          UpdateExpression: 'SET taskToken = :t, executionArn = :e',
          ConditionExpression: '#st = :pending',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: { ':t': S(taskToken), ':e': S(executionArn), ':pending': S('pending') },
        }),
      ),
    );
  } catch (e) {
    if (!(e instanceof ConditionalCheckFailedException)) throw e;
    throw new ConflictError(`scope request ${requestId} is not pending`, { requestId });
  }
  return { parked: true };
}

/**
 * The workflow's grant step: checks the approval (ValidationError when malformed)
 * and grants or rejects. TwoPersonRuleError when the approver asked for it.
 */
export async function answerScopeRequest(
  deps: ScopeStoreDeps,
  requestId: string,
  approval: unknown,
): Promise<ScopeRequest> {
  const a = parseOrThrow(ApprovalPayload, approval, 'scope approval');
  if (a.decision === 'approve') return await grantScope(deps, requestId, a.approverArn);
  return await rejectScope(deps, requestId, a.approverArn, a.reason);
}

/**
 * After a refused answer (self-approval, a malformed payload) the request stays
 * pending for a legitimate approver until its deadline. A malformed answer is
 * audited here (a self-approval already was, by grantScope).
 */
export async function approvalRefused(
  deps: ScopeStoreDeps,
  requestId: string,
  error: { readonly Error?: string; readonly Cause?: string },
): Promise<ScopeRequest> {
  const cur = await getScopeRequest(deps, requestId);
  if (error.Error !== 'TwoPersonRuleError') {
    await deps.audit([
      decisionEvent(who(cur, SCOPE_GRANT_MACHINE), { requestId, error }, 'scope_grant', resourceOf(cur), 'deny', [
        `APPROVAL_INVALID: ${error.Error ?? 'Error'}: ${error.Cause ?? ''}`.slice(0, 1024),
      ]),
    ]);
  }
  return cur;
}
