/**
 * The guests' evidence door through its Function URL: the caller's IAM identity (the
 * instance role session, named after the instance) must be the session's own instance.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SessionTable } from '../../lambdas/sessions/table.ts';
import { useRuntime } from '../helpers/runtime.ts';

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

describe('session evidence door (Function URL, IAM-bound caller)', () => {
  const rt = useRuntime();

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
});
