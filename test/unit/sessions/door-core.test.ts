/**
 * The guests' door's core without AWS: who the caller is (from the platform's
 * identity only), how refusals become answers, how bodies are read, and the
 * order of checks (route, caller, session, limit, body), with fakes for the stores.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditEvent } from '../../../lambdas/audit/schema.ts';
import { instanceOf } from '../../../lambdas/doors/guest/binding.ts';
import { type GuestDoorDeps, serveGuestDoor } from '../../../lambdas/doors/guest/door.ts';
import { HeartbeatBody } from '../../../lambdas/doors/guest/heartbeat.ts';
import { type DoorEvent, jsonBody, refusal, TooManyRequestsError } from '../../../lambdas/doors/guest/http.ts';
import type { SessionItem } from '../../../lambdas/sessions/table.ts';
import {
  ConfigurationError,
  ConflictError,
  ForbiddenError,
  TransientError,
  ValidationError,
} from '../../../lambdas/shared/errors.ts';

const ACCOUNT = '123456789012';
const ROLE = 'AiDesktopOps-dev-SessionsInstanceRole-ABC';
const INSTANCE = 'i-0123456789abcdef0';
const arn = (role = ROLE, session = INSTANCE, account = ACCOUNT, partition = 'aws') =>
  `arn:${partition}:sts::${account}:assumed-role/${role}/${session}`;

function event(over: Partial<DoorEvent> & { userArn?: string | null; caller?: string | null } = {}): DoorEvent {
  const { userArn = arn(), caller = `AROAEXAMPLE:${INSTANCE}`, ...rest } = over;
  return {
    resource: '/v1/heartbeat',
    httpMethod: 'POST',
    body: '{}',
    requestContext: { requestId: 'r-1', accountId: ACCOUNT, identity: { userArn, caller } },
    ...rest,
  };
}

describe('who calls: the instance, from the platform’s identity', () => {
  it('an instance session of an admitted role in this account (any partition)', () => {
    assert.deepEqual(instanceOf({ userArn: arn(), caller: `AROAX:${INSTANCE}` }, [ROLE], ACCOUNT), {
      instanceId: INSTANCE,
      callerArn: arn(),
    });
    const gov = arn(ROLE, INSTANCE, ACCOUNT, 'aws-us-gov');
    assert.equal(instanceOf({ userArn: gov, caller: `AROAX:${INSTANCE}` }, [ROLE], ACCOUNT).instanceId, INSTANCE);
  });

  it('anything else is a ForbiddenError: another role, account, a session not named after an instance, a mismatched caller, unsigned', () => {
    const cases: [string, { userArn?: string | null; caller?: string | null }][] = [
      ['another role', { userArn: arn('OtherRole'), caller: `AROAX:${INSTANCE}` }],
      ['another account', { userArn: arn(ROLE, INSTANCE, '210987654321'), caller: `AROAX:${INSTANCE}` }],
      ['a person’s session', { userArn: arn(ROLE, 'alice'), caller: 'AROAX:alice' }],
      ['a caller id for another session', { userArn: arn(), caller: 'AROAX:i-0fffffffffffffff0' }],
      ['a user', { userArn: `arn:aws:iam::${ACCOUNT}:user/${INSTANCE}`, caller: 'AIDAX' }],
      ['unsigned', { userArn: null, caller: null }],
    ];
    for (const [what, identity] of cases)
      assert.throws(() => instanceOf(identity, [ROLE], ACCOUNT), ForbiddenError, what);
  });
});

describe('answers', () => {
  it('typed refusals become their status with the error name; a transient one says when to retry', () => {
    const cases: [Error, number][] = [
      [new ValidationError('bad', [{ path: 'state', message: 'nope' }]), 400],
      [new ForbiddenError('no'), 403],
      [new ConflictError('later'), 409],
      [new TooManyRequestsError('slow down'), 429],
      [new TransientError('throttled'), 503],
    ];
    for (const [e, status] of cases) {
      const r = refusal(e);
      assert.equal(r?.statusCode, status, e.name);
      assert.equal(JSON.parse(r!.body).error, e.name);
      assert.equal(r?.headers['cache-control'], 'no-store');
    }
    assert.deepEqual(JSON.parse(refusal(cases[0]![0])!.body).issues, [{ path: 'state', message: 'nope' }]);
    assert.equal(refusal(new TooManyRequestsError('x'))?.headers['retry-after'], '1');
    assert.equal(
      refusal(new ConfigurationError('a deployment bug')),
      undefined,
      'not the caller’s fault: thrown (502)',
    );
    assert.equal(refusal(new TypeError('bug')), undefined);
  });

  it('bodies: JSON (or base64 of it), empty is {}, too large or not JSON is a ValidationError naming (body)', () => {
    assert.deepEqual(jsonBody(event({ body: '{"state":"running"}' }), HeartbeatBody, 'heartbeat'), {
      state: 'running',
    });
    assert.deepEqual(
      jsonBody(
        event({ body: Buffer.from('{"state":"stopping"}').toString('base64'), isBase64Encoded: true }),
        HeartbeatBody,
        'heartbeat',
      ),
      { state: 'stopping' },
    );
    assert.deepEqual(jsonBody(event({ body: null }), HeartbeatBody, 'heartbeat'), {});
    for (const body of ['{"state":', `{"pad":"${'x'.repeat(200_001)}"}`]) {
      const e = (() => {
        try {
          jsonBody(event({ body }), HeartbeatBody, 'heartbeat');
        } catch (x) {
          return x as ValidationError;
        }
        return undefined;
      })();
      assert.ok(e instanceof ValidationError);
      assert.equal(e.issues[0]?.path, '(body)');
    }
  });
});

describe('the order of checks', () => {
  const session: SessionItem = {
    sessionId: 'ses-core-1',
    status: 'active',
    instanceId: INSTANCE,
    user: 'fay',
    cohort: 'default',
    requestedAt: new Date().toISOString(),
  };
  function deps(over: { sessions?: SessionItem[]; allow?: boolean } = {}) {
    const audited: AuditEvent[] = [];
    const calls: string[] = [];
    const sessions = over.sessions ?? [session];
    const d = {
      table: {
        byInstance: async (id: string) => {
          calls.push(`byInstance ${id}`);
          return sessions.find((s) => s.instanceId === id);
        },
      },
      marks: {
        countRequest: async () => {
          calls.push('count');
          return over.allow ?? true;
        },
        seen: async () => {
          calls.push('seen');
          return {};
        },
      },
      callbacks: { heartbeat: async () => undefined },
      audit: async (events: readonly AuditEvent[]) => {
        audited.push(...events);
      },
      roleNames: [ROLE],
      callerLimit: { requests: 10, windowSeconds: 60 },
    } as unknown as GuestDoorDeps;
    return { d, audited, calls };
  }

  it('a route the door does not have: 404 before anything is read', async () => {
    const { d, calls } = deps();
    const r = await serveGuestDoor(event({ resource: '/v1/teleport' }), d);
    assert.equal(r.statusCode, 404);
    assert.deepEqual(calls, []);
  });

  it('a caller the platform did not name as an instance: 403, audited in the control-plane chain', async () => {
    const { d, audited, calls } = deps();
    const r = await serveGuestDoor(event({ userArn: arn('OtherRole') }), d);
    assert.equal(r.statusCode, 403);
    assert.deepEqual(calls, []);
    assert.equal(audited.length, 1);
    assert.equal(audited[0]?.sessionId, null);
    assert.equal(audited[0]?.kind === 'decision' && audited[0].detail.outcome, 'deny');
  });

  it('a session the caller does not run: 403, audited in its own session’s chain, nothing counted', async () => {
    const { d, audited, calls } = deps();
    const r = await serveGuestDoor(event({ queryStringParameters: { sessionId: 'ses-someone-else' } }), d);
    assert.equal(r.statusCode, 403);
    assert.ok(!calls.includes('count'));
    assert.equal(audited[0]?.sessionId, 'ses-core-1');
    assert.equal(audited[0]?.sandboxId, INSTANCE);
  });

  it('over the caller’s limit: 429 before the body is read; under it, the route runs', async () => {
    const over = deps({ allow: false });
    const r = await serveGuestDoor(event({ body: '{not json' }), over.d);
    assert.equal(r.statusCode, 429);
    assert.deepEqual(over.audited, [], 'a 429 changes nothing: not audited');
    const ok = deps();
    const hb = await serveGuestDoor(event({ body: '{"state":"running"}' }), ok.d);
    assert.equal(hb.statusCode, 200, hb.body);
    assert.deepEqual(ok.calls, [`byInstance ${INSTANCE}`, 'count', 'seen']);
    assert.equal(JSON.parse(hb.body).stateChanged, true);
  });

  it('a heartbeat for a task the workflow no longer waits on is a 409, not a crash', async () => {
    const attesting = { ...session, status: 'attesting' as const, attestToken: 'tok' };
    const { d } = deps({ sessions: [attesting] });
    (d.callbacks as unknown as { heartbeat: () => Promise<void> }).heartbeat = async () => {
      throw Object.assign(new Error('Task Timed Out'), { name: 'TaskTimedOut' });
    };
    const r = await serveGuestDoor(event(), d);
    assert.equal(r.statusCode, 409, r.body);
    assert.equal(JSON.parse(r.body).error, 'ConflictError');
  });

  it('an error the door does not expect is thrown (API Gateway answers 502), not dressed as a refusal', async () => {
    const { d } = deps();
    (d.marks as unknown as { countRequest: () => Promise<boolean> }).countRequest = async () => {
      throw new TypeError('a bug');
    };
    await assert.rejects(serveGuestDoor(event(), d), TypeError);
  });
});
