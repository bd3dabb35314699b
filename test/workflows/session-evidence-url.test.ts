/**
 * The guests' evidence door through its Function URL: the caller's IAM identity (the
 * instance role session, named after the instance) must be the session's own instance;
 * bytes that are not what they claim to be are a 400 naming the field, audited.
 * This runtime ships the default (unpinned) profiles: their attestation events say so.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoNonceStore } from '../../lambdas/attestation/nonce-store.ts';
import { eventBridgeSink } from '../../lambdas/sessions/audit.ts';
import { handleEvidence } from '../../lambdas/sessions/evidence.ts';
import { SfnCallbacksWithHeartbeat } from '../../lambdas/sessions/handlers/deps.ts';
import { SessionTable } from '../../lambdas/sessions/table.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { useRuntime } from '../helpers/runtime.ts';
import { load } from '../unit/attestation/vectors.ts';

const ROLE_PREFIX = 'SessionsInstanceRole';

function urlEvent(userArn: string | undefined, body: unknown, method = 'POST') {
  return {
    requestContext: {
      http: { method },
      ...(userArn ? { authorizer: { iam: { userArn, accountId: '123456789012' } } } : {}),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
  };
}

/** Audit events on the bus, copied to a queue the test reads. */
async function captureAudit(r: LocalRuntime): Promise<(sessionId: string) => Promise<any[]>> {
  const sqs = new SQSClient(r.clientConfig());
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'evidence-url-audit' }))).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })))
    .Attributes!.QueueArn!;
  const eb = new EventBridgeClient(r.clientConfig());
  await eb.send(
    new PutRuleCommand({
      Name: 'evidence-url-audit',
      EventBusName: 'aidops-audit',
      EventPattern: '{"source":["aidops"]}',
    }),
  );
  await eb.send(
    new PutTargetsCommand({
      Rule: 'evidence-url-audit',
      EventBusName: 'aidops-audit',
      Targets: [{ Id: 'q', Arn: arn }],
    }),
  );
  const seen: any[] = [];
  return async (sessionId) => {
    for (;;) {
      const m = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
      if (!m.Messages?.length) break;
      for (const x of m.Messages) seen.push(JSON.parse(x.Body!).detail);
    }
    return seen.filter((e) => e.sessionId === sessionId);
  };
}

/** Starts a session and waits until it is attesting with its token stored. */
async function attestingSession(r: LocalRuntime, sid: string, useCase: string) {
  const exec = r.sfn.start('aidops-session', { user: 'fay', useCase, ttl: '1h' }, sid);
  await r.sfn.waitForPending((p) => p.stateName === 'Wait for attestation' && p.executionArn.endsWith(`:${sid}`));
  const sessions = new SessionTable(new DynamoDBClient(r.clientConfig()), 'aidops-sessions');
  let item = await sessions.get(sid);
  for (let i = 0; i < 200 && !item?.attestToken; i++) {
    await new Promise((res) => setTimeout(res, 25));
    item = await sessions.get(sid);
  }
  return { exec, sessions, item: item! };
}

describe('session evidence door (Function URL, IAM-bound caller)', () => {
  const rt = useRuntime();
  let audited: ((sessionId: string) => Promise<any[]>) | undefined;
  /** Starts copying audit events to a queue (before the events to read are published). */
  const captureAuditEvents = async () => {
    audited ??= await captureAudit(rt());
  };
  const auditOf = async (sessionId: string) => {
    if (!audited) throw new Error('captureAuditEvents() first');
    return audited(sessionId);
  };

  it('answers the session’s own instance, refuses any other caller with 403 and a bad body with 400', async () => {
    const sid = 'ses-url-1';
    const exec = rt().sfn.start('aidops-session', { user: 'fay', useCase: 'document-summary', ttl: '1h' }, sid);
    await rt().sfn.waitForPending((p) => p.stateName === 'Wait for attestation' && p.executionArn.endsWith(`:${sid}`));
    const sessions = new SessionTable(new DynamoDBClient(rt().clientConfig()), 'aidops-sessions');
    let item = await sessions.get(sid);
    for (let i = 0; i < 200 && !item?.attestToken; i++) {
      await new Promise((r) => setTimeout(r, 25));
      item = await sessions.get(sid);
    }
    assert.ok(item?.instanceId && item.nonce, 'session is attesting with an instance and a nonce');
    const fn = rt().functionName('SessionsEvidence');
    const role = rt().ref(ROLE_PREFIX);
    const as = (instanceId: string, roleName = role) =>
      `arn:aws:sts::123456789012:assumed-role/${roleName}/${instanceId}`;
    const call = async (e: unknown) => (await rt().invoke(fn, e as never)) as { statusCode: number; body: string };

    const own = await call(urlEvent(as(item.instanceId!), { op: 'nonce', sessionId: sid }));
    assert.equal(own.statusCode, 200, own.body);
    assert.equal(JSON.parse(own.body).nonce, item.nonce);

    const other = await call(urlEvent(as('i-0123456789abcdef0'), { op: 'nonce', sessionId: sid }));
    assert.equal(other.statusCode, 403);
    assert.equal(JSON.parse(other.body).error, 'ForbiddenError');

    const wrongRole = await call(urlEvent(as(item.instanceId!, 'SomeOtherRole'), { op: 'nonce', sessionId: sid }));
    assert.equal(wrongRole.statusCode, 403);
    const unsigned = await call(urlEvent(undefined, { op: 'nonce', sessionId: sid }));
    assert.equal(unsigned.statusCode, 403);

    const notJson = await call(urlEvent(as(item.instanceId!), '{not json'));
    assert.equal(notJson.statusCode, 400);
    const badOp = await call(urlEvent(as(item.instanceId!), { op: 'teleport', sessionId: sid }));
    assert.equal(badOp.statusCode, 400);
    assert.equal(JSON.parse(badOp.body).error, 'ValidationError');

    // Still attesting: none of the refused calls touched the session.
    assert.equal((await sessions.get(sid))?.status, 'attesting');
    rt().sfn.sendTaskFailure(item.attestToken!, 'SessionEnded', 'test over');
    assert.equal((await exec.done).status, 'FAILED');
  });

  it('hostile bytes: non-base64 evidence, a non-hex nonce, a non-base64 key are a 400 naming the field, audited; the session keeps waiting', async () => {
    await captureAuditEvents();
    const sid = 'ses-url-bytes';
    const { exec, sessions, item } = await attestingSession(rt(), sid, 'financial-operations');
    assert.equal(item.evidenceType, 'sev-snp');
    const fn = rt().functionName('SessionsEvidence');
    const caller = `arn:aws:sts::123456789012:assumed-role/${rt().ref(ROLE_PREFIX)}/${item.instanceId}`;
    const call = async (body: unknown) =>
      (await rt().invoke(fn, urlEvent(caller, body) as never)) as { statusCode: number; body: string };
    const base = { op: 'evidence', sessionId: sid, evidenceType: 'sev-snp' };
    const cases: [string, Record<string, unknown>][] = [
      ['evidence', { ...base, evidence: '<html>not base64</html>' }],
      ['nonce', { ...base, evidence: 'AAAA', nonce: 'not-hex!', publicKey: 'AAAA' }],
      ['publicKey', { ...base, evidence: 'AAAA', nonce: '00ff', publicKey: 'MFkw?EwYH' }],
    ];
    for (const [field, body] of cases) {
      const res = await call(body);
      assert.equal(res.statusCode, 400, `${field}: ${res.body}`);
      const err = JSON.parse(res.body);
      assert.equal(err.error, 'ValidationError', field);
      assert.match(err.message, new RegExp(`${field}: must be (base64|hex)`), field);
    }
    const events = (await auditOf(sid)).filter((e) => e.detail.type === 'attestation_result');
    assert.equal(events.length, 3, JSON.stringify(events));
    for (const [i, [field]] of cases.entries()) {
      assert.equal(events[i]?.kind, 'security');
      assert.equal(events[i]?.detail.verdict, 'fail');
      assert.match(events[i]?.detail.reason ?? '', new RegExp(`^MALFORMED: refused at the door: ${field}: `));
      assert.equal(events[i]?.detail.unpinned, true, 'the default profiles pin nothing: every event says so');
    }
    assert.equal((await sessions.get(sid))?.status, 'attesting', 'a garbled request does not end the session');
    rt().sfn.sendTaskFailure(item.attestToken!, 'SessionEnded', 'test over');
    assert.equal((await exec.done).status, 'FAILED');
  });

  it('an unpinned session refuses a genuine document from another instance, and its verdict says unpinned', async () => {
    await captureAuditEvents();
    const sid = 'ses-url-unpinned';
    const { exec, sessions, item } = await attestingSession(rt(), sid, 'document-authoring');
    const doc = load('nitro-enclave/confidior-2026-07-07-us-east-2.hex');
    const at = new Date(1783456414261 + 5_000);
    const cfg = rt().clientConfig();
    // The door's core with the clock inside the document's certificate window (the URL handler uses the wall clock).
    const r = await handleEvidence(
      { op: 'evidence', sessionId: sid, evidenceType: 'nitro-enclave', evidence: doc.toString('base64') },
      {
        table: sessions,
        nonceStore: new DynamoNonceStore(new DynamoDBClient(cfg), {
          tableName: rt().ref('AttestationNonces'),
          now: () => at.getTime(),
        }),
        secrets: new SecretsManagerClient(cfg),
        callbacks: new SfnCallbacksWithHeartbeat(new SFNClient(cfg)),
        audit: eventBridgeSink(new EventBridgeClient(cfg), 'aidops-audit'),
        secretPrefix: 'aidops/session/',
        now: () => at,
      },
    );
    assert.equal(r.op === 'evidence' && r.reason, 'INSTANCE_MISMATCH', JSON.stringify(r));
    assert.equal((await exec.done).status, 'FAILED');
    const v = (await auditOf(sid)).find((e) => e.detail.type === 'attestation_result');
    assert.match(v?.detail.reason ?? '', /^INSTANCE_MISMATCH/);
    assert.equal(v?.detail.unpinned, true);
    assert.equal(v?.sandboxId, item.instanceId);
  });
});
