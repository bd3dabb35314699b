/**
 * The guests' door end to end: a private REST API served by the local API Gateway
 * stand-in exactly as synthesized (AWS_IAM, the resource policy, the stage throttle
 * shared by every caller as in AWS), requests signed with the credentials moto issues
 * to a session's instance (its instance-profile role session, named after the
 * instance), the real handler behind it. The caller is bound to the session the
 * table records for its instance; nothing about the session comes from the request.
 * This runtime ships the default (unpinned) profiles: their attestation events say so.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, ListObjectVersionsCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { uuidv7 } from '../../lambdas/audit/schema.ts';
import { attestationClock } from '../../lambdas/doors/guest/handlers/deps.ts';
import { SsmFlags } from '../../lambdas/sessions/flags.ts';
import { names } from '../../lambdas/shared/names.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { SOURCE_VPCE_HEADER } from '../../local/standins/api-gateway/server.ts';
import { attestingSession, DOOR, guest, guestCredentials } from '../helpers/guest-door.ts';
import { useRuntime } from '../helpers/runtime.ts';
import { load } from '../unit/attestation/vectors.ts';

/** Small enough that a test reaches it; every test uses its own instances. */
const CALLER_REQUESTS = 12;

/** Audit events on the bus, copied to a queue the test reads. */
async function captureAudit(r: LocalRuntime): Promise<(sessionId: string | null) => Promise<any[]>> {
  const sqs = new SQSClient(r.clientConfig());
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'guest-door-audit' }))).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })))
    .Attributes!.QueueArn!;
  const eb = new EventBridgeClient(r.clientConfig());
  await eb.send(
    new PutRuleCommand({
      Name: 'guest-door-audit',
      EventBusName: names().auditBus,
      EventPattern: '{"source":["aidops"]}',
    }),
  );
  await eb.send(
    new PutTargetsCommand({
      Rule: 'guest-door-audit',
      EventBusName: names().auditBus,
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

const errorOf = (res: { status: number; headers: Record<string, unknown>; text: string }) => ({
  status: res.status,
  type: res.headers['x-amzn-errortype'],
});

describe('the guests’ door (private REST API, SigV4 from the instance profile)', () => {
  const rt = useRuntime({
    apiThrottleScope: 'method',
    config: {
      sessions: { flagCacheSeconds: 0, door: { callerRequests: CALLER_REQUESTS, callerWindowSeconds: 600 } },
    } as never,
  });
  let audited: ((sessionId: string | null) => Promise<any[]>) | undefined;
  const auditOf = async (sessionId: string | null) => {
    audited ??= await captureAudit(rt());
    return await audited(sessionId);
  };
  const end = async (token: string | undefined, exec: { done: Promise<{ status: string }> }) => {
    if (token) rt().sfn.sendTaskFailure(token, 'SessionEnded', 'test over');
    await exec.done;
  };
  /** The door function's invocations that threw (a crash is a 502 and an error here). */
  const doorErrors = () => rt().invocations.filter((i) => i.fn.startsWith(DOOR) && i.error);

  it('its own session answers every route; writes are recorded on the session and audited', async () => {
    await auditOf(null);
    await new SsmFlags(new SSMClient(rt().clientConfig()), names().flagPrefix).set(
      'pilot',
      'file-write',
      false,
      'test',
    );
    const sid = 'ses-door-own';
    const { exec, sessions, item } = await attestingSession(rt(), sid, {
      user: 'fay@example.com',
      useCase: 'document-summary',
      cohort: 'pilot',
    });
    // A granted scope (as the approval writes it) and an expired one.
    const later = new Date(Date.now() + 3600_000).toISOString();
    await new DynamoDBClient(rt().clientConfig()).send(
      new UpdateItemCommand({
        TableName: names().sessionTable,
        Key: { sessionId: { S: sid } },
        UpdateExpression: 'SET scopes = :s',
        ExpressionAttributeValues: {
          ':s': {
            M: {
              'write:/finance': {
                M: {
                  requestId: { S: 'sreq-door-1' },
                  expiresAt: { S: later },
                  grantedBy: { S: 'arn:aws:iam::123456789012:user/ann' },
                  grantedAt: { S: '2026-01-01T00:00:00.000Z' },
                },
              },
              'write:/hr': { M: { expiresAt: { S: '2020-01-01T00:00:00Z' } } },
            },
          },
        },
      }),
    );
    const me = guest(rt(), await guestCredentials(rt(), item.instanceId!));

    const state = await me.get('session');
    assert.equal(state.status, 200, state.text);
    const s = state.json() as any;
    assert.equal(s.sessionId, sid);
    assert.equal(s.instanceId, item.instanceId);
    assert.equal(s.status, 'attesting');
    assert.equal(s.tier, 'low');
    assert.equal(s.cohort, 'pilot');
    assert.deepEqual(s.attestation, { status: 'pending', evidenceType: 'nitrotpm', at: null, unpinned: true });
    assert.deepEqual(s.scopes, [
      {
        scope: 'write:/finance',
        requestId: 'sreq-door-1',
        expiresAt: later,
        grantedBy: 'arn:aws:iam::123456789012:user/ann',
        grantedAt: '2026-01-01T00:00:00.000Z',
      },
    ]);
    assert.equal(s.flags['file-write'], false, 'the pilot cohort’s flag');
    assert.equal(s.flags['network-egress'], true);
    assert.equal(s.policy.admittedUnder, item.policyVersion);
    assert.deepEqual(s.policy.active, {
      parameter: names().policyParameter,
      version: `${names().policyParameter}@1`,
      bundle: { bundled: true },
    });
    assert.equal(state.headers['cache-control'], 'no-store');

    const nonce = await me.post('nonce');
    assert.equal(nonce.status, 200, nonce.text);
    assert.match((nonce.json() as any).nonce, /^[0-9a-f]{64}$/);
    assert.notEqual((nonce.json() as any).nonce, item.nonce, 'a fresh nonce, not the workflow’s');

    for (const state of ['provisioning', 'provisioning', 'attesting']) {
      const hb = await me.post('heartbeat', { state });
      assert.equal(hb.status, 200, hb.text);
    }
    const seen = await sessions.get(sid);
    assert.equal(seen?.agentState, 'attesting');
    assert.ok(seen?.lastSeenAt);

    const ask = {
      kind: 'scope',
      scope: 'write:/finance/reports',
      durationSeconds: 3600,
      justification: 'quarter close',
    };
    const req = await me.post('requests', ask);
    assert.equal(req.status, 200, req.text);
    const r = req.json() as any;
    assert.match(r.requestId, /^req-[0-9a-f]{20}$/);
    assert.equal(r.status, 'pending');
    assert.equal(r.alreadyPending, false);
    const again = (await me.post('requests', ask)).json() as any;
    assert.equal(again.requestId, r.requestId, 'asking again while it waits: the same request');
    assert.equal(again.alreadyPending, true);
    const stored = await new DynamoDBClient(rt().clientConfig()).send(
      new GetItemCommand({
        TableName: rt().ref(`${DOOR}Requests`),
        Key: { sessionId: { S: sid }, requestId: { S: r.requestId } },
      }),
    );
    assert.equal(stored.Item?.status?.S, 'pending');
    assert.equal(stored.Item?.subject?.S, 'write:/finance/reports');
    assert.match(stored.Item?.requestedBy?.S ?? '', new RegExp(`assumed-role/.+/${item.instanceId}$`));

    const events = await auditOf(sid);
    const door = events.filter((e) => e.source === 'aidops.doors.guest');
    assert.deepEqual(
      door.map((e) => [e.detail.action, e.detail.outcome]),
      [
        ['door:POST /v1/nonce', 'allow'],
        ['door:POST /v1/requests', 'allow'],
      ],
      'the nonce and the request (once) are audited; reading the state is not',
    );
    assert.equal(door[0]?.sandboxId, item.instanceId);
    assert.equal(door[0]?.user.type, 'agent');
    const reported = events.filter((e) => e.kind === 'health' && /reported by the agent/.test(e.detail.reason ?? ''));
    assert.deepEqual(
      reported.map((e) => e.detail.state),
      ['provisioning', 'attesting'],
      'heartbeats are audited only when the reported state changes',
    );
    assert.deepEqual(doorErrors(), []);
    await end(item.attestToken, exec);
  });

  it('telemetry: validated, forced to the caller’s session and instance, and in that session’s audit chain', async () => {
    const sid = 'ses-door-telemetry';
    const { exec, item } = await attestingSession(rt(), sid, { user: 'gus', useCase: 'document-summary' });
    const me = guest(rt(), await guestCredentials(rt(), item.instanceId!));
    const now = new Date();
    const events = [
      { eventId: uuidv7(), time: now.toISOString(), kind: 'intent', detail: { type: 'prompt', text: 'summarize q3' } },
      {
        eventId: uuidv7(),
        time: now.toISOString(),
        kind: 'action',
        detail: { type: 'fs_read', path: '/docs/q3.pdf', bytes: 1024, outcome: 'success' },
      },
      {
        eventId: uuidv7(),
        time: now.toISOString(),
        kind: 'security',
        detail: { type: 'escape_attempt', technique: 'ptrace', severity: 'high', blocked: true },
      },
    ];
    const res = await me.post('telemetry', { events });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      (res.json() as any).eventIds,
      events.map((e) => e.eventId),
    );

    const refused: [string, unknown, RegExp][] = [
      ['a session id of its own', { events: [{ ...events[0], sessionId: 'ses-other' }] }, /events\[0\]/],
      [
        'an attestation verdict',
        {
          events: [
            {
              ...events[0],
              eventId: uuidv7(),
              kind: 'security',
              detail: { type: 'attestation_result', verdict: 'pass' },
            },
          ],
        },
        /events\[0\]\.detail\.type/,
      ],
      [
        'a time long before the session',
        { events: [{ ...events[0], eventId: uuidv7(), time: '2020-01-01T00:00:00.000Z' }] },
        /events\[0\]\.time/,
      ],
      ['an unknown kind', { events: [{ ...events[0], eventId: uuidv7(), kind: 'decision' }] }, /events\[0\]\.kind/],
      ['no events', { events: [] }, /events/],
    ];
    for (const [what, body, field] of refused) {
      const r = await me.post('telemetry', body);
      assert.equal(r.status, 400, `${what}: ${r.text}`);
      assert.equal((r.json() as any).error, 'ValidationError', what);
      assert.match(JSON.stringify((r.json() as any).issues), field, what);
    }

    await rt().pumpEventSources();
    const s3 = new S3Client(rt().clientConfig());
    const bucket = rt().ref('AuditBucketPinned');
    const v = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: `audit/chains/${sid}/` }));
    const lines: any[] = [];
    for (const x of v.Versions ?? []) {
      const o = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: x.Key, VersionId: x.VersionId }));
      lines.push(
        ...(await o.Body!.transformToString())
          .trim()
          .split('\n')
          .slice(1)
          .map((l) => JSON.parse(l)),
      );
    }
    const mine = lines.filter((e) => e.source === 'aidops.agent');
    assert.deepEqual(mine.map((e) => e.eventId).sort(), events.map((e) => e.eventId).sort());
    for (const e of mine) {
      assert.equal(e.sessionId, sid);
      assert.equal(e.sandboxId, item.instanceId);
      assert.equal(e.policyVersion, item.policyVersion);
    }
    assert.deepEqual(doorErrors(), []);
    await end(item.attestToken, exec);
  });

  it('another instance only ever sees its own session: asking for this one is 403 (audited); no session, 403', async () => {
    const a = await attestingSession(rt(), 'ses-door-a', { user: 'ann', useCase: 'document-summary' });
    const b = await attestingSession(rt(), 'ses-door-b', { user: 'bob', useCase: 'document-summary' });
    const asB = guest(rt(), await guestCredentials(rt(), b.item.instanceId!));
    const own = await asB.get('session');
    assert.equal((own.json() as any).sessionId, 'ses-door-b', 'B’s credentials answer with B’s session');
    for (const call of [
      () => asB.get('session', { query: { sessionId: 'ses-door-a' } }),
      () => asB.post('nonce', {}, { query: { sessionId: 'ses-door-a' } }),
      () => asB.post('heartbeat', {}, { query: { sessionId: 'ses-door-a' } }),
    ]) {
      const r = await call();
      assert.equal(r.status, 403, r.text);
      assert.equal((r.json() as any).error, 'ForbiddenError');
      assert.doesNotMatch(r.text, /ann|ses-door-a.*tier/, 'nothing of A’s session in the answer');
    }
    const denied = (await auditOf('ses-door-b')).filter((e) => e.detail.outcome === 'deny');
    assert.equal(denied.length, 3);
    assert.match(denied[0].detail.reasons[0], /does not run session ses-door-a/);
    assert.equal(denied[0].sandboxId, b.item.instanceId);

    // An instance of the session role that runs no session.
    const stray = guest(rt(), await rt().assumeRole('SessionsInstanceRole', 'i-0aaaaaaaaaaaaaaa0'));
    const none = await stray.get('session');
    assert.equal(none.status, 403, none.text);
    assert.equal((none.json() as any).error, 'ForbiddenError');
    assert.ok(
      (await auditOf(null)).some((e) => e.sandboxId === 'i-0aaaaaaaaaaaaaaa0' && e.detail.outcome === 'deny'),
      'audited in the control-plane chain',
    );
    // A session of another role, named like the instance: the resource policy refuses it before the handler.
    const other = guest(rt(), await rt().assumeRole('SessionsLaunch', a.item.instanceId!));
    const res = await other.get('session');
    assert.deepEqual(errorOf(res), { status: 403, type: 'AccessDeniedException' });
    assert.match(res.text, /explicit deny/);
    await end(a.item.attestToken, a.exec);
    await end(b.item.attestToken, b.exec);
  });

  it('unsigned: 403 before the handler; another VPC endpoint: 403 by the resource policy’s Deny', async () => {
    const { exec, item } = await attestingSession(rt(), 'ses-door-edge', { user: 'eve', useCase: 'document-summary' });
    const before = rt().invocations.filter((i) => i.fn.startsWith(DOOR)).length;
    const unsigned = await guest(rt()).get('session');
    assert.deepEqual(errorOf(unsigned), { status: 403, type: 'MissingAuthenticationTokenException' });
    const me = guest(rt(), await guestCredentials(rt(), item.instanceId!));
    const elsewhere = await me.get('session', { headers: { [SOURCE_VPCE_HEADER]: 'vpce-0ffffffffffffffff' } });
    assert.deepEqual(errorOf(elsewhere), { status: 403, type: 'AccessDeniedException' });
    assert.match(elsewhere.text, /with an explicit deny/);
    const outside = await me.get('session', { headers: { [SOURCE_VPCE_HEADER]: 'none' } });
    assert.deepEqual(errorOf(outside), { status: 403, type: 'AccessDeniedException' }, 'not through an endpoint');
    assert.equal(rt().invocations.filter((i) => i.fn.startsWith(DOOR)).length, before, 'the handler never ran');
    assert.equal((await me.get('session')).status, 200, 'through the door’s own endpoint it answers');
    await end(item.attestToken, exec);
  });

  it('a malformed body is a typed 400 naming the field, and the handler answers (no crash)', async () => {
    const { exec, sessions, item } = await attestingSession(rt(), 'ses-door-bad', {
      user: 'fay',
      useCase: 'document-summary',
    });
    const me = guest(rt(), await guestCredentials(rt(), item.instanceId!));
    const cases: [string, () => ReturnType<typeof me.post>, RegExp][] = [
      ['not JSON', () => me.post('evidence', '{"evidenceType": "nitrotpm", '), /\(body\)/],
      ['an unknown field', () => me.post('heartbeat', { state: 'running', sessionId: 'ses-x' }), /\(root\)|sessionId/],
      ['a bad enum', () => me.post('heartbeat', { state: 'flying' }), /state/],
      [
        'a scope out of form',
        () => me.post('requests', { kind: 'scope', scope: 'all the things', durationSeconds: 60, justification: 'x' }),
        /scope/,
      ],
      [
        'a write id that is no id',
        () => me.post('requests', { kind: 'staged-write', writeId: '../../etc', justification: 'x' }),
        /writeId/,
      ],
      ['a malformed session id', () => me.post('nonce', {}, { query: { sessionId: '../x' } }), /\(root\)/],
      ['an oversized body', () => me.post('telemetry', { events: [], pad: 'x'.repeat(250_000) }), /\(body\)/],
    ];
    for (const [what, call, field] of cases) {
      const r = await call();
      assert.equal(r.status, 400, `${what}: ${r.text}`);
      const err = r.json() as any;
      assert.equal(err.error, 'ValidationError', what);
      assert.match(JSON.stringify(err.issues), field, what);
    }
    assert.deepEqual(doorErrors(), [], 'every refusal was an answer, not a crash');
    assert.equal((await sessions.get('ses-door-bad'))?.status, 'attesting', 'nothing changed');
    await end(item.attestToken, exec);
  });

  it('per caller: one instance over its limit gets 429 while another still gets 200', async () => {
    const a = await attestingSession(rt(), 'ses-door-busy', { user: 'ann', useCase: 'document-summary' });
    const b = await attestingSession(rt(), 'ses-door-calm', { user: 'bob', useCase: 'document-summary' });
    const busy = guest(rt(), await guestCredentials(rt(), a.item.instanceId!));
    const calm = guest(rt(), await guestCredentials(rt(), b.item.instanceId!));
    const statuses: number[] = [];
    // Fixed windows: within 2 × the limit a 429 must come, whatever the window's edge.
    for (let i = 0; i < 2 * CALLER_REQUESTS + 1 && !statuses.includes(429); i++)
      statuses.push((await busy.get('session')).status);
    assert.ok(statuses.includes(429), statuses.join(','));
    assert.ok(statuses.filter((s) => s === 200).length >= CALLER_REQUESTS, statuses.join(','));
    const throttled = await busy.post('heartbeat');
    assert.equal(throttled.status, 429);
    assert.equal((throttled.json() as any).error, 'TooManyRequestsError');
    assert.equal(throttled.headers['retry-after'], '1');
    assert.equal((await calm.get('session')).status, 200, 'another instance has its own count');
    await end(a.item.attestToken, a.exec);
    await end(b.item.attestToken, b.exec);
  });

  it('hostile bytes: non-base64 evidence, a non-hex nonce, a non-base64 key are a 400 naming the field, audited; the session keeps waiting', async () => {
    const sid = 'ses-door-bytes';
    const { exec, sessions, item } = await attestingSession(rt(), sid, {
      user: 'fay',
      useCase: 'financial-operations',
    });
    assert.equal(item.evidenceType, 'sev-snp');
    const me = guest(rt(), await guestCredentials(rt(), item.instanceId!));
    const base = { evidenceType: 'sev-snp' };
    const cases: [string, Record<string, unknown>][] = [
      ['evidence', { ...base, evidence: '<html>not base64</html>' }],
      ['nonce', { ...base, evidence: 'AAAA', nonce: 'not-hex!', publicKey: 'AAAA' }],
      ['publicKey', { ...base, evidence: 'AAAA', nonce: '00ff', publicKey: 'MFkw?EwYH' }],
    ];
    for (const [field, body] of cases) {
      const res = await me.post('evidence', body);
      assert.equal(res.status, 400, `${field}: ${res.text}`);
      const err = res.json() as any;
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
    await end(item.attestToken, exec);
  });

  it('an unpinned session refuses, through the door, a genuine document from another instance; its verdict says unpinned', async () => {
    const sid = 'ses-door-unpinned';
    const { exec, item } = await attestingSession(rt(), sid, { user: 'fay', useCase: 'document-authoring' });
    const doc = load('nitro-enclave/confidior-2026-07-07-us-east-2.hex');
    const me = guest(rt(), await guestCredentials(rt(), item.instanceId!));
    // The clock inside the document's certificate window (it expired hours after it was made).
    attestationClock.now = () => new Date(1783456414261 + 5_000);
    try {
      const res = await me.post('evidence', { evidenceType: 'nitro-enclave', evidence: doc.toString('base64') });
      assert.equal(res.status, 200, res.text);
      const r = res.json() as any;
      assert.equal(r.reason, 'INSTANCE_MISMATCH', res.text);
      assert.equal(r.sealedSecrets, null);
    } finally {
      attestationClock.now = () => new Date();
    }
    assert.equal((await exec.done).status, 'FAILED');
    const v = (await auditOf(sid)).find((e) => e.detail.type === 'attestation_result');
    assert.match(v?.detail.reason ?? '', /^INSTANCE_MISMATCH/);
    assert.equal(v?.detail.unpinned, true);
    assert.equal(v?.sandboxId, item.instanceId);
    const state = await me.get('session');
    assert.equal((state.json() as any).attestation.status, 'rejected', 'the door’s verdict, on the record');
  });
});
