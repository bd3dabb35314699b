/**
 * Decisions on the control plane's own state, in the local control plane:
 *  - a flag flipped off (`aidops flags set … off`) reaches a running session's
 *    decisions within 60 s: the same lookups the decision function composes, over
 *    the runtime's session table and SSM, on a clock the test moves (no 30 s sleep);
 *  - scope grants through `aidops-scope-grant`: the token on the request item is
 *    answered with SendTaskSuccess by a second principal's ARN → granted and held;
 *    a self-approval is refused and the request waits for someone else; an
 *    unanswered request expires;
 *  - the deployed decision function decides with what it looks up.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { createAuthoritativeDecider } from '../../lambdas/policy/authoritative.ts';
import { createDecider } from '../../lambdas/policy/decide.ts';
import { packBundle } from '../../lambdas/policy/source.ts';
import { awsStateLookup, MAX_FLAGS_TTL_MS } from '../../lambdas/policy/state.ts';
import { activeScopes } from '../../lambdas/sessions/scopes.ts';
import { SessionTable } from '../../lambdas/sessions/table.ts';
import { names } from '../../lambdas/shared/names.ts';
import type { Execution, Json } from '../../local/asl/sfn-local.ts';
import { runCli } from '../helpers/cli.ts';
import { putSession } from '../helpers/policy-state.ts';
import { useRuntime } from '../helpers/runtime.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const POLICIES = path.join(ROOT, 'policies');
const MACHINE = names().scopeGrantMachine;
const AGENT = 'arn:aws:sts::123456789012:assumed-role/aidops-session/i-0abc1234def567890';
const ALICE = 'arn:aws:sts::123456789012:assumed-role/AidopsApprover/alice@example.com';
const BOB = 'arn:aws:iam::123456789012:user/bob';

describe('decisions on the control plane state', () => {
  const rt = useRuntime();
  let ddb: DynamoDBClient;
  let sessionTable: string;
  let requestTable: string;
  let decideFn: string;
  before(async () => {
    ddb = new DynamoDBClient(rt().clientConfig());
    decideFn = rt().functionName('PolicyDecide');
    sessionTable = rt().functionEnv(decideFn).SESSION_TABLE!;
    requestTable = rt().functionEnv(rt().functionName('ScopesStep')).SCOPE_REQUEST_TABLE!;
    // The function's shipped bundle is a deploy artifact: publish the policies as an operator would.
    const bucket = rt().ref('PolicyBucket');
    await new S3Client(rt().clientConfig()).send(
      new PutObjectCommand({ Bucket: bucket, Key: 'bundles/test.json', Body: JSON.stringify(packBundle(POLICIES)) }),
    );
    await new SSMClient(rt().clientConfig()).send(
      new PutParameterCommand({
        Name: rt().functionEnv(decideFn).POLICY_PARAMETER!,
        Value: JSON.stringify({ bucket, key: 'bundles/test.json' }),
        Overwrite: true,
        Type: 'String',
      }),
    );
  });

  const deployed = async (requests: unknown[]) =>
    (await rt().invoke(decideFn, { requests } as Json)) as {
      decisions: { effect: string; reasons: string[] }[];
      refusals: { index: number; error: string }[];
    };

  it('a flag flipped off reaches a running session within 60 s (cache TTL + read)', async () => {
    await putSession(ddb, { sessionId: 'ses-flag-1', cohort: 'pilot' }, sessionTable);
    const egress = {
      sessionId: 'ses-flag-1',
      action: 'net_connect',
      resource: { kind: 'host', host: 'pypi.org', port: 443 },
    };
    // The deployed function: its env names the stores, its role reads them.
    const first = await deployed([egress, { ...egress, sessionId: 'ses-nobody' }]);
    assert.deepEqual(
      first.decisions.map((d) => d.effect),
      ['allow', 'deny'],
    );
    assert.deepEqual(first.refusals, [
      { index: 1, error: 'NotFoundError', reason: 'SESSION_NOT_FOUND', message: 'no session ses-nobody' },
    ]);

    // The same composition, on a clock the test moves.
    const env = rt().functionEnv(decideFn);
    let now = Date.now();
    const d = createAuthoritativeDecider({
      decider: await createDecider({ engine: 'rego', policies: POLICIES }),
      state: awsStateLookup({
        ddb,
        ssm: new SSMClient(rt().clientConfig()),
        sessionTable: env.SESSION_TABLE!,
        flagPrefix: env.FLAG_PREFIX!,
        registryTable: env.REGISTRY_TABLE!,
        flagsTtlMs: Number(env.FLAG_CACHE_SECONDS) * 1000,
        clock: () => now,
      }),
    });
    assert.equal((await d.decide(egress)).decision.effect, 'allow', 'allowed, and the flags are now cached');

    const flip = await runCli([
      'flags',
      'set',
      'network-egress',
      'off',
      '--cohort',
      'pilot',
      '--reason',
      'exfiltration suspected',
      '--endpoint',
      rt().endpoint,
    ]);
    assert.equal(flip.code, 0, flip.err);
    const flippedAt = now;
    let seen: Awaited<ReturnType<typeof d.decide>> | undefined;
    // Poll as an agent would, one decision per (fake) second.
    while (now - flippedAt <= 60_000) {
      const o = await d.decide(egress);
      if (o.decision.effect === 'deny') {
        seen = o;
        break;
      }
      now += 1000;
    }
    assert.ok(seen, 'the flip never reached the decisions within 60 s');
    const tookMs = now - flippedAt;
    assert.ok(tookMs <= MAX_FLAGS_TTL_MS, `reached decisions after ${tookMs} ms`);
    assert.ok(tookMs >= MAX_FLAGS_TTL_MS - 1000, 'not before the cache lapsed: the cache is what bounds it');
    assert.deepEqual(seen.decision.reasons, ['capability switched off: net_connect']);
    assert.equal(seen.state.flagsReadAt, new Date(now).toISOString());

    const on = await runCli([
      'flags',
      'unset',
      'network-egress',
      '--cohort',
      'pilot',
      '--reason',
      'cleared',
      '--endpoint',
      rt().endpoint,
    ]);
    assert.equal(on.code, 0, on.err);
  });

  /** The request item as the people's door reads it, once the wait has parked its token there. */
  /** The token the request item holds; `answered`: one already used, so wait for the next wait's token. */
  async function parkedToken(requestId: string, answered?: string): Promise<string> {
    for (let i = 0; i < 250; i++) {
      const r = await ddb.send(
        new GetItemCommand({ TableName: requestTable, Key: { requestId: { S: requestId } }, ConsistentRead: true }),
      );
      const token = r.Item?.taskToken?.S;
      if (token && token !== answered) return token;
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error(`no task token on request ${requestId}`);
  }
  const answer = async (requestId: string, approverArn: string, decision = 'approve', answered?: string) => {
    const token = await parkedToken(requestId, answered);
    // As the people's door does: Step Functions' API, the approver's ARN in the output.
    await new SFNClient(rt().clientConfig()).send(
      new SendTaskSuccessCommand({
        taskToken: token,
        output: JSON.stringify({ approverArn, decision, reason: 'checked' }),
      }),
    );
    return token;
  };
  const waiting = (exec: { executionArn: string }, since = 0) =>
    rt().sfn.waitForPending(
      (p) => p.executionArn === exec.executionArn && p.stateName === 'Wait for approval' && p.since >= since,
    );
  const states = (ex: Execution) => ex.timeline.filter((e) => e.type === 'StateEntered').map((e) => e.state);

  it('request → approval by a second principal → granted with an expiry, held by the session, allowing its write', async () => {
    await putSession(ddb, { sessionId: 'ses-scope-1' }, sessionTable);
    const write = {
      sessionId: 'ses-scope-1',
      action: 'fs_write',
      resource: { kind: 'file', path: '/finance/q3.xlsx' },
    };
    assert.equal((await deployed([write])).decisions[0]!.effect, 'deny', 'not held yet');

    const run = rt().sfn.start(
      MACHINE,
      {
        sessionId: 'ses-scope-1',
        scope: 'write:/finance',
        requestedBy: AGENT,
        reason: 'update the Q3 deck',
        ttlSeconds: 900,
      },
      'req-scope-1',
    );
    await waiting(run);
    await answer('req-scope-1', BOB);
    const ex = await run.done;
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}\n${rt().formatTimeline(ex)}`);
    const out = ex.output as { outcome: string; decidedBy: string; expiresAt: string; requestId: string };
    assert.equal(out.outcome, 'granted');
    assert.equal(out.decidedBy, BOB);
    assert.equal(out.requestId, 'req-scope-1');
    const held = activeScopes(await new SessionTable(ddb, sessionTable).mustGet('ses-scope-1'), new Date());
    assert.deepEqual(
      held.map((s) => [s.scope, s.grantedBy, s.expiresAt]),
      [['write:/finance', BOB, out.expiresAt]],
    );
    const item = await ddb.send(
      new GetItemCommand({ TableName: requestTable, Key: { requestId: { S: 'req-scope-1' } } }),
    );
    assert.equal(item.Item?.status?.S, 'granted');
    assert.equal(item.Item?.taskToken, undefined, 'the answered token is gone from the item');
    // A fresh function instance would read it at once; this warm one within its 10 s session cache.
    const d = createAuthoritativeDecider({
      decider: await createDecider({ engine: 'cedar', policies: POLICIES }),
      state: awsStateLookup({
        ddb,
        ssm: new SSMClient(rt().clientConfig()),
        sessionTable,
        flagPrefix: '/aidops/flags',
        registryTable: rt().functionEnv(decideFn).REGISTRY_TABLE!,
      }),
    });
    assert.equal((await d.decide(write)).decision.effect, 'allow');
  });

  it('self-approval is refused (two-person rule) and the request waits for another approver', async () => {
    await putSession(ddb, { sessionId: 'ses-scope-2' }, sessionTable);
    const run = rt().sfn.start(
      MACHINE,
      { sessionId: 'ses-scope-2', scope: 'write:/hr', requestedBy: ALICE, reason: 'annual reviews' },
      'req-scope-2',
    );
    await waiting(run);
    const t0 = Date.now();
    const first = await answer('req-scope-2', ALICE);
    await waiting(run, t0);
    const second = await answer('req-scope-2', BOB, 'approve', first);
    assert.notEqual(second, first, 'a fresh token for the second wait');
    const ex = await run.done;
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    assert.equal((ex.output as { outcome: string }).outcome, 'granted');
    const path = states(ex);
    assert.deepEqual(
      path.filter((s) => ['Wait for approval', 'Answer', 'Answer refused', 'Granted'].includes(s ?? '')),
      ['Wait for approval', 'Answer', 'Answer refused', 'Wait for approval', 'Answer', 'Granted'],
    );
  });

  it('an approver may reject; an unanswered request expires at its deadline', async () => {
    await putSession(ddb, { sessionId: 'ses-scope-3' }, sessionTable);
    const rej = rt().sfn.start(
      MACHINE,
      { sessionId: 'ses-scope-3', scope: 'write:/secrets', requestedBy: AGENT, reason: 'rotate' },
      'req-scope-3',
    );
    await waiting(rej);
    await answer('req-scope-3', BOB, 'reject');
    assert.equal(((await rej.done).output as { outcome: string }).outcome, 'rejected');

    const lapse = await rt().execute(
      MACHINE,
      {
        sessionId: 'ses-scope-3',
        scope: 'write:/secrets',
        requestedBy: AGENT,
        reason: 'rotate',
        approvalTimeoutSeconds: 1,
      },
      'req-scope-4',
    );
    assert.equal(lapse.status, 'SUCCEEDED', `${lapse.error}: ${lapse.cause}`);
    assert.equal((lapse.output as { outcome: string }).outcome, 'expired');
    assert.ok(states(lapse).includes('Expire request'));
    const item = await ddb.send(
      new GetItemCommand({ TableName: requestTable, Key: { requestId: { S: 'req-scope-4' } } }),
    );
    assert.equal(item.Item?.status?.S, 'expired');
    assert.deepEqual(activeScopes(await new SessionTable(ddb, sessionTable).mustGet('ses-scope-3'), new Date()), []);

    const ghost = await rt().execute(
      MACHINE,
      { sessionId: 'ses-ghost', scope: 'write:/finance', requestedBy: AGENT, reason: 'x' },
      'req-scope-5',
    );
    assert.equal(ghost.status, 'FAILED');
    assert.equal(ghost.error, 'NotFoundError');
  });
});
