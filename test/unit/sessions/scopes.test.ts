/**
 * The scope store against DynamoDB in moto: a request, a grant by a second
 * principal (the two-person rule, in the core), expiry, rejection, revocation,
 * and what a session holds at a given time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { AuditEvent } from '../../../lambdas/audit/schema.ts';
import {
  activeScopes,
  answerScopeRequest,
  approvalRefused,
  expireScopeRequest,
  getScopeRequest,
  grantScope,
  MAX_SCOPE_TTL_SECONDS,
  parkApprovalToken,
  rejectScope,
  requestScope,
  revokeScope,
  type ScopeStoreDeps,
  samePrincipal,
  TwoPersonRuleError,
} from '../../../lambdas/sessions/scopes.ts';
import { SessionTable } from '../../../lambdas/sessions/table.ts';
import { awsClientConfig } from '../../../lambdas/shared/clients.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../../lambdas/shared/errors.ts';
import { type MotoServer, startMoto } from '../../../local/emulator/moto.ts';
import { createStateTables, putSession, TABLES } from '../../helpers/policy-state.ts';

const AGENT = 'arn:aws:sts::123456789012:assumed-role/aidops-session/i-0abc1234def567890';
const ALICE = 'arn:aws:sts::123456789012:assumed-role/AidopsApprover/alice@example.com';
const BOB = 'arn:aws:iam::123456789012:user/bob';

let moto: MotoServer;
let ddb: DynamoDBClient;
let now = Date.parse('2026-03-01T12:00:00Z');
const events: AuditEvent[] = [];
let deps: ScopeStoreDeps;
const iso = (ms: number) => new Date(ms).toISOString();

before(async () => {
  moto = await startMoto();
  ddb = new DynamoDBClient(awsClientConfig({ endpoint: moto.endpoint }));
  await createStateTables(ddb);
  deps = {
    ddb,
    requestTable: TABLES.requests,
    sessions: new SessionTable(ddb, TABLES.sessions),
    audit: async (e) => {
      events.push(...e);
    },
    now: () => new Date(now),
  };
});
after(async () => {
  ddb?.destroy();
  await moto?.stop();
});

const ask = (sessionId: string, extra: Record<string, unknown> = {}) =>
  requestScope(deps, {
    sessionId,
    scope: 'write:/finance',
    requestedBy: AGENT,
    reason: 'update the Q3 deck',
    ...extra,
  });

describe('scope store', () => {
  it('request → grant by a second principal: granted with an expiry, on the session item, audited', async () => {
    await putSession(ddb, { sessionId: 'ses-sc-1', expiresAt: iso(now + 4 * 3_600_000) });
    const req = await ask('ses-sc-1', { requestId: 'req-1', ttlSeconds: 1800 });
    assert.equal(req.status, 'pending');
    assert.equal(req.remainingSeconds, 86_400);
    assert.equal(events.at(-1)?.kind, 'workflow');
    // The same request again is the same request (the guest door may retry).
    assert.deepEqual(await ask('ses-sc-1', { requestId: 'req-1', ttlSeconds: 1800 }), req);
    await assert.rejects(ask('ses-sc-2', { requestId: 'req-1' }), NotFoundError, 'unknown session');
    await putSession(ddb, { sessionId: 'ses-sc-2' });
    await assert.rejects(ask('ses-sc-2', { requestId: 'req-1' }), ConflictError, 'another request under that id');

    // The workflow parks its token on the item; the people's door reads it there.
    await parkApprovalToken(deps, 'req-1', 'token-1', 'arn:aws:states:us-east-1:123456789012:execution:x:req-1');
    const parked = await ddb.send(
      new GetItemCommand({ TableName: TABLES.requests, Key: { requestId: { S: 'req-1' } } }),
    );
    assert.equal(parked.Item?.taskToken?.S, 'token-1');
    const g = await grantScope(deps, 'req-1', ALICE);
    assert.equal(g.status, 'granted');
    assert.equal(g.expiresAt, iso(now + 1800 * 1000));
    const stored = await getScopeRequest(deps, 'req-1');
    assert.equal(stored.decidedBy, ALICE);
    assert.equal(stored.expiresAt, g.expiresAt);
    const answered = await ddb.send(
      new GetItemCommand({ TableName: TABLES.requests, Key: { requestId: { S: 'req-1' } } }),
    );
    assert.equal(answered.Item?.taskToken, undefined, 'an answered token leaves the item');
    await assert.rejects(parkApprovalToken(deps, 'req-1', 't', 'e'), ConflictError, 'only a pending request waits');
    const session = await deps.sessions.mustGet('ses-sc-1');
    assert.deepEqual(
      activeScopes(session, new Date(now)).map((s) => [s.scope, s.expiresAt, s.grantedBy, s.requestId]),
      [['write:/finance', g.expiresAt, ALICE, 'req-1']],
    );
    assert.deepEqual(activeScopes(session, new Date(now + 1800 * 1000)), [], 'expired grants are not held');
    const audit = events.at(-1)!;
    assert.ok(audit.kind === 'decision');
    assert.equal(audit.detail.action, 'scope_grant');
    assert.equal(audit.detail.outcome, 'allow');
    assert.equal(audit.user?.id, ALICE);
    assert.equal(audit.sessionId, 'ses-sc-1');
    await assert.rejects(grantScope(deps, 'req-1', BOB), ConflictError, 'not pending any more');
  });

  it('two-person rule: the requester cannot approve, however the ARN is cased; refused in the core and audited', async () => {
    await putSession(ddb, { sessionId: 'ses-sc-3' });
    await requestScope(deps, {
      sessionId: 'ses-sc-3',
      scope: 'write:/hr',
      requestedBy: ALICE,
      reason: 'reviews',
      requestId: 'req-3',
    });
    const n = events.length;
    await assert.rejects(
      grantScope(deps, 'req-3', ALICE.replace('AidopsApprover/alice', 'AIDOPSAPPROVER/Alice')),
      (e) => {
        assert.ok(e instanceof TwoPersonRuleError);
        assert.equal(e.name, 'TwoPersonRuleError');
        return true;
      },
    );
    const refusal = events[n]!;
    assert.ok(refusal.kind === 'decision');
    assert.equal(refusal.detail.outcome, 'deny');
    assert.match(refusal.detail.reasons[0]!, /^TWO_PERSON_RULE: /);
    assert.equal((await getScopeRequest(deps, 'req-3')).status, 'pending', 'still open for someone else');
    assert.equal(
      (await answerScopeRequest(deps, 'req-3', { approverArn: BOB, decision: 'approve', reason: 'ok' })).status,
      'granted',
    );
    assert.ok(samePrincipal(' arn:aws:iam::123456789012:user/Bob', BOB));
  });

  it('the approval payload is checked: an ARN, approve|reject, a reason', async () => {
    await putSession(ddb, { sessionId: 'ses-sc-4' });
    await ask('ses-sc-4', { requestId: 'req-4' });
    for (const bad of [
      { approverArn: 'bob', decision: 'approve', reason: 'x' },
      { approverArn: BOB, decision: 'maybe', reason: 'x' },
      { approverArn: BOB, decision: 'approve' },
      { approverArn: BOB, decision: 'approve', reason: 'x', approvedBy: 'bob' },
    ])
      await assert.rejects(answerScopeRequest(deps, 'req-4', bad), ValidationError, JSON.stringify(bad));
    const n = events.length;
    const still = await approvalRefused(deps, 'req-4', { Error: 'ValidationError', Cause: 'bad payload' });
    assert.equal(still.status, 'pending');
    assert.match((events[n] as { detail: { reasons: string[] } }).detail.reasons[0]!, /^APPROVAL_INVALID/);
    const r = await answerScopeRequest(deps, 'req-4', { approverArn: BOB, decision: 'reject', reason: 'not now' });
    assert.equal(r.status, 'rejected');
    assert.equal(r.decisionReason, 'not now');
    assert.equal(activeScopes(await deps.sessions.mustGet('ses-sc-4'), new Date(now)).length, 0);
  });

  it('a grant never outlives its session, nor MAX_SCOPE_TTL_SECONDS; a grant for an ended session is refused', async () => {
    await putSession(ddb, { sessionId: 'ses-sc-5', expiresAt: iso(now + 600_000) });
    await ask('ses-sc-5', { requestId: 'req-5', ttlSeconds: MAX_SCOPE_TTL_SECONDS });
    assert.equal((await grantScope(deps, 'req-5', BOB)).expiresAt, iso(now + 600_000));
    await assert.rejects(ask('ses-sc-5', { ttlSeconds: MAX_SCOPE_TTL_SECONDS + 1 }), ValidationError);

    await putSession(ddb, { sessionId: 'ses-sc-6' });
    await ask('ses-sc-6', { requestId: 'req-6' });
    await deps.sessions.update('ses-sc-6', { status: 'ended' });
    await assert.rejects(grantScope(deps, 'req-6', BOB), /no longer live/);
    assert.equal((await getScopeRequest(deps, 'req-6')).status, 'pending', 'the transaction wrote nothing');
    await assert.rejects(ask('ses-sc-6'), ConflictError, 'an ended session cannot ask');
  });

  it('expire closes a pending request once; revoke takes a grant back', async () => {
    await putSession(ddb, { sessionId: 'ses-sc-7' });
    await ask('ses-sc-7', { requestId: 'req-7', approvalTimeoutSeconds: 5 });
    now += 6000;
    assert.equal((await getScopeRequest(deps, 'req-7')).remainingSeconds, 0);
    const x = await expireScopeRequest(deps, 'req-7', 'no approval before the deadline');
    assert.equal(x.status, 'expired');
    const n = events.length;
    assert.equal((await expireScopeRequest(deps, 'req-7', 'again')).status, 'expired');
    assert.equal(events.length, n, 'closing twice audits once');
    await assert.rejects(grantScope(deps, 'req-7', BOB), ConflictError);

    await ask('ses-sc-7', { requestId: 'req-8' });
    await grantScope(deps, 'req-8', BOB);
    const r = await revokeScope(deps, {
      sessionId: 'ses-sc-7',
      scope: 'write:/finance',
      revokedBy: ALICE,
      reason: 'done',
    });
    assert.equal(r.requestId, 'req-8');
    assert.equal((await getScopeRequest(deps, 'req-8')).status, 'revoked');
    assert.deepEqual(activeScopes(await deps.sessions.mustGet('ses-sc-7'), new Date(now)), []);
    await assert.rejects(
      revokeScope(deps, { sessionId: 'ses-sc-7', scope: 'write:/finance', revokedBy: ALICE, reason: 'x' }),
      NotFoundError,
    );
    await rejectScope(deps, 'req-8', BOB, 'late').then((s) =>
      assert.equal(s.status, 'revoked', 'not pending: unchanged'),
    );
  });
});
