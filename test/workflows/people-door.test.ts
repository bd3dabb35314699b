/**
 * The people's door end to end: the REST API served by the local API Gateway
 * stand-in exactly as synthesized (AWS_IAM, the account-only resource policy),
 * requests signed (SigV4) with credentials moto's STS issues to assumed operator
 * role sessions, the real handler behind it. The approver is the caller's role
 * session ARN; the two-person rule refuses the requester. The stand-in does not
 * evaluate identity policies: which role may call which route is asserted on the
 * templates (test/unit/people-door.test.ts), not here.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { activeScopes } from '../../lambdas/sessions/scopes.ts';
import { SessionTable } from '../../lambdas/sessions/table.ts';
import { names } from '../../lambdas/shared/names.ts';
import { launchFixtureSession } from '../../local/gameday.ts';
import type { LocalCredentials, LocalRuntime } from '../../local/runtime.ts';
import { callApi } from '../../local/standins/api-gateway/client.ts';
import { installStandins } from '../../local/standins/index.ts';
import { runCliProcess } from '../helpers/cli.ts';
import { putSession } from '../helpers/policy-state.ts';
import { useRuntime } from '../helpers/runtime.ts';

const DOOR = 'PeopleDoorApi';
const ACCOUNT = '123456789012';

async function captureAudit(r: LocalRuntime): Promise<() => Promise<any[]>> {
  const sqs = new SQSClient(r.clientConfig());
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'people-door-audit' }))).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })))
    .Attributes!.QueueArn!;
  const eb = new EventBridgeClient(r.clientConfig());
  await eb.send(
    new PutRuleCommand({
      Name: 'people-door-audit',
      EventBusName: names().auditBus,
      EventPattern: '{"source":["aidops"]}',
    }),
  );
  await eb.send(
    new PutTargetsCommand({
      Rule: 'people-door-audit',
      EventBusName: names().auditBus,
      Targets: [{ Id: 'q', Arn: arn }],
    }),
  );
  const seen: any[] = [];
  return async () => {
    for (;;) {
      const m = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
      if (!m.Messages?.length) break;
      for (const x of m.Messages) seen.push(JSON.parse(x.Body!).detail);
    }
    return seen;
  };
}

describe('the people’s door (REST API, SigV4 from operator role sessions)', () => {
  const rt = useRuntime();
  let audited: () => Promise<any[]>;
  let alice: LocalCredentials;
  let bob: LocalCredentials;
  const aliceArn = `arn:aws:sts::${ACCOUNT}:assumed-role/`;
  const whoAmI = async (credentials: LocalCredentials) =>
    (await new STSClient({ ...rt().clientConfig(), credentials }).send(new GetCallerIdentityCommand({}))).Arn!;
  before(async () => {
    installStandins(rt());
    audited = await captureAudit(rt());
    alice = await rt().assumeRole('OperatorsApprover', 'alice');
    bob = await rt().assumeRole('OperatorsApprover', 'bob');
  });
  const call = async (method: string, path: string, credentials?: LocalCredentials, body?: unknown) =>
    await callApi(`${rt().apiEndpoint(DOOR)}v1/${path}`, {
      method,
      credentials,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });

  it('an unsigned request is 403 (AWS_IAM), a malformed body a typed 400', async () => {
    const r = await call('POST', 'approvals/restore/x/approve', undefined, {});
    assert.equal(r.status, 403, r.text);
    const bad = await call('POST', 'incidents/restore', alice, { sessionId: 'ses-x', bogus: 1 });
    assert.equal(bad.status, 400, bad.text);
    assert.equal((bad.json() as any).error, 'ValidationError');
    const kind = await call('POST', 'approvals/nope/x/approve', alice, {});
    assert.equal(kind.status, 404, kind.text);
  });

  it('restore: the requester may not approve it (403, audited, still waiting); a second principal does', async () => {
    const sessionId = 'ses-pd-restore';
    await launchFixtureSession(rt(), sessionId);
    const kg = await rt().execute(names().snapshotMachine, { sessionId, reason: 'known-good' }, `kg-${sessionId}`);
    assert.equal(kg.status, 'SUCCEEDED', `${kg.error}: ${kg.cause}`);
    await new Promise((r) => setTimeout(r, 1100));
    const t = await rt().execute(
      names().tombstoneMachine,
      { sessionId, reason: 'incident', source: 'evt', requestedBy: 'alice' },
      `tomb-${sessionId}`,
    );
    assert.equal(t.status, 'SUCCEEDED', `${t.error}: ${t.cause}`);

    const started = await call('POST', 'incidents/restore', alice, { sessionId, reason: 'clean again' });
    assert.equal(started.status, 200, started.text);
    const { executionArn, name, input } = started.json() as any;
    assert.match(input.requestedBy, new RegExp(`^${aliceArn}[^/]+/alice$`));
    await rt().sfn.waitForPending((p) => p.executionArn === executionArn && p.stateName === 'Wait for approval');
    // The token reaches the incident table a moment after the wait starts.
    let self = await call('POST', `approvals/restore/${name}/approve`, alice, { comment: 'mine' });
    for (let i = 0; self.status === 404 && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 50));
      self = await call('POST', `approvals/restore/${name}/approve`, alice, { comment: 'mine' });
    }
    assert.equal(self.status, 403, self.text);
    assert.equal((self.json() as any).error, 'TwoPersonRuleError');
    const exec = [...rt().sfn.executions.values()].find((e) => e.name === name)!;
    assert.equal(exec.status, 'RUNNING', 'the restore still waits');
    const denied = (await audited()).filter(
      (e) => e.detail?.action === 'approval:restore:approve' && e.detail.outcome === 'deny',
    );
    assert.equal(denied.length, 1);
    assert.equal(denied[0].detail.reasons[0].startsWith('TWO_PERSON_RULE'), true);
    assert.match(denied[0].user.id, /assumed-role\/[^/]+\/alice$/);

    // The second principal approves with the CLI, run as a process, signing with its role session.
    const signer = (c: LocalCredentials) => ({
      AWS_ACCESS_KEY_ID: c.accessKeyId,
      AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
      AWS_SESSION_TOKEN: c.sessionToken,
    });
    const door = ['--endpoint', rt().endpoint, '--door-url', rt().apiEndpoint(DOOR)];
    const mine = await runCliProcess(['incident', 'approve', name, ...door], signer(alice));
    assert.equal(mine.code, 1, mine.err);
    assert.match(
      mine.err,
      /not authorized: arn:aws:sts::\d{12}:assumed-role\/[^/]+\/alice may not approve restore .*; assume the approver role/,
    );
    const ok = await runCliProcess(
      ['incident', 'approve', name, '--comment', 'packet reviewed', '--json', ...door],
      signer(bob),
    );
    assert.equal(ok.code, 0, ok.err);
    const bobArn = JSON.parse(ok.out).approver as string;
    assert.match(bobArn, /^arn:aws:sts::123456789012:assumed-role\/[^/]+\/bob$/);
    const done = await exec.done;
    assert.equal(done.status, 'SUCCEEDED', `${done.error}: ${done.cause}`);
    assert.equal((done.output as any).approval.approver, bobArn);
    assert.equal((done.output as any).outcome, 'released');
    const allowed = (await audited()).filter(
      (e) => e.detail?.action === 'approval:restore:approve' && e.detail.outcome === 'allow',
    );
    assert.equal(allowed[0]?.user.id, bobArn);

    const status = await call('GET', `incidents/${name}`, alice);
    assert.equal(status.status, 200, status.text);
    assert.equal((status.json() as any).status, 'SUCCEEDED');
    const again = await call('POST', `approvals/restore/${name}/approve`, bob, {});
    assert.equal(again.status, 404, 'answered already');
  });

  it('scope grant: the requester is refused, a second principal’s approval shows in the session’s scopes', async () => {
    const ddb = new DynamoDBClient(rt().clientConfig());
    const sessionTable = rt().functionEnv(rt().functionName('ScopesStep')).SESSION_TABLE!;
    await putSession(ddb, { sessionId: 'ses-pd-scope' }, sessionTable);
    const aliceSession = await whoAmI(alice);
    const run = rt().sfn.start(
      names().scopeGrantMachine,
      {
        sessionId: 'ses-pd-scope',
        scope: 'write:/finance',
        requestedBy: aliceSession,
        reason: 'Q3 deck',
        ttlSeconds: 900,
      },
      'req-pd-scope',
    );
    await rt().sfn.waitForPending((p) => p.executionArn === run.executionArn && p.stateName === 'Wait for approval');
    let mine = await call('POST', 'approvals/scope/req-pd-scope/approve', alice, { comment: 'please' });
    for (let i = 0; mine.status === 409 && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 50));
      mine = await call('POST', 'approvals/scope/req-pd-scope/approve', alice, { comment: 'please' });
    }
    assert.equal(mine.status, 403, mine.text);
    const ok = await call('POST', 'approvals/scope/req-pd-scope/approve', bob, { comment: 'checked' });
    assert.equal(ok.status, 200, ok.text);
    const ex = await run.done;
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    const held = activeScopes(await new SessionTable(ddb, sessionTable).mustGet('ses-pd-scope'), new Date());
    assert.deepEqual(
      held.map((s) => [s.scope, s.grantedBy]),
      [['write:/finance', (ok.json() as any).by]],
    );
  });
});
