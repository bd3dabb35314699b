/**
 * Against moto: policies loaded from S3 (directly and through an SSM pointer)
 * change without redeploying the decider, and write staging holds, promotes,
 * approves and rejects real objects.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { parseAuditEvent } from '../../lambdas/audit/schema.ts';
import { createAuthoritativeDecider } from '../../lambdas/policy/authoritative.ts';
import { createDecider } from '../../lambdas/policy/decide.ts';
import { packBundle, parseBundleDoc } from '../../lambdas/policy/source.ts';
import { approveHeld, listHeld, rejectHeld, stageWrites } from '../../lambdas/policy/staging.ts';
import { stateFromDocument } from '../../lambdas/policy/state-file.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { NotFoundError } from '../../lambdas/shared/errors.ts';
import { type MotoServer, startMoto } from '../../local/emulator/moto.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const POLICIES = path.join(ROOT, 'policies');

let moto: MotoServer;
let s3: S3Client;
let ssm: SSMClient;
const BUCKET = 'aidops-policies';
const WORK = 'aidops-workspace';

before(async () => {
  moto = await startMoto();
  s3 = new S3Client(awsClientConfig({ endpoint: moto.endpoint }));
  ssm = new SSMClient(awsClientConfig({ endpoint: moto.endpoint }));
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }));
  await s3.send(new CreateBucketCommand({ Bucket: WORK }));
});
after(async () => {
  s3?.destroy();
  ssm?.destroy();
  await moto?.stop();
});

const egress = (host: string) => ({
  session: { id: 'sess-s3', tier: 'standard', cohort: 'pilot', approvedScopes: [] },
  principal: { id: 'bob@example.com' },
  action: 'net_connect',
  resource: { kind: 'host', host, port: 443 },
  context: { time: '2025-06-01T12:00:00Z', attestation: { status: 'verified' } },
});
const write = (p: string, content: string, action = 'fs_write', sessionId = 'sess-stage') => ({
  request: { sessionId, action, resource: { kind: 'file', path: p } },
  contentBase64: Buffer.from(content).toString('base64'),
});
/** Staging decides on the session's own state: here a live session in a state document. */
const staged = async (engine: 'cedar' | 'rego') =>
  createAuthoritativeDecider({
    decider: await createDecider({ engine, policies: POLICIES }),
    state: stateFromDocument({
      now: '2025-06-01T12:00:00Z',
      sessions: [{ sessionId: 'sess-stage', status: 'active', cohort: 'pilot', user: 'bob@example.com' }],
    }),
  });

async function putBundle(key: string, version: string, allow: string[]): Promise<string | undefined> {
  const doc = { ...packBundle(POLICIES), version, data: { egress_allowlist: allow } };
  const r = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: JSON.stringify(doc) }));
  return r.VersionId;
}

describe('policy source in S3', () => {
  for (const engine of ['cedar', 'rego'] as const) {
    it(`${engine}: a new bundle object takes effect after the refresh window, no redeploy`, async () => {
      const key = `bundles/${engine}.json`;
      await putBundle(key, 'v1', []);
      let now = 0;
      const d = await createDecider({ engine, policies: { type: 's3', s3, bucket: BUCKET, key }, clock: () => now });
      const first = await d.decide(egress('example.org'));
      assert.equal(first.decision.effect, 'deny');
      assert.equal(first.decision.policyVersion, 'v1');

      await putBundle(key, 'v2', ['example.org:443']);
      now += 10_000;
      assert.equal((await d.decide(egress('example.org'))).decision.effect, 'deny', 'inside the window');
      now += 20_000;
      const second = await d.decide(egress('example.org'));
      assert.equal(second.decision.effect, 'allow');
      assert.equal(second.decision.policyVersion, 'v2');
      assert.equal(second.decision.cached, false);
    });
  }

  it('an SSM parameter selects the active bundle version; switching it switches policies', async () => {
    const key = 'bundles/ssm.json';
    const v1 = await putBundle(key, 'ssm-v1', []);
    const v2 = await putBundle(key, 'ssm-v2', ['example.org:443']);
    assert.ok(v1 && v2 && v1 !== v2);
    const Name = '/aidops/policy/active';
    await ssm.send(
      new PutParameterCommand({ Name, Type: 'String', Value: JSON.stringify({ bucket: BUCKET, key, versionId: v1 }) }),
    );
    let now = 0;
    const d = await createDecider({
      engine: 'rego',
      policies: { type: 'ssm', ssm, s3, parameterName: Name },
      clock: () => now,
    });
    assert.equal((await d.decide(egress('example.org'))).decision.policyVersion, 'ssm-v1');
    assert.equal((await d.decide(egress('example.org'))).decision.effect, 'deny');
    await ssm.send(
      new PutParameterCommand({
        Name,
        Type: 'String',
        Overwrite: true,
        Value: JSON.stringify({ bucket: BUCKET, key, versionId: v2 }),
      }),
    );
    now += 30_000;
    const out = await d.decide(egress('example.org'));
    assert.equal(out.decision.policyVersion, 'ssm-v2');
    assert.equal(out.decision.effect, 'allow');
  });
});

describe('policy source: the bundle shipped with the function', () => {
  it('decides with the shipped bundle while the parameter says {"bundled":true}; repointing to S3 switches', async () => {
    const Name = '/aidops/policy/active-bundled';
    await ssm.send(new PutParameterCommand({ Name, Type: 'String', Value: JSON.stringify({ bundled: true }) }));
    const shipped = parseBundleDoc({ ...packBundle(POLICIES), version: 'shipped', data: { egress_allowlist: [] } });
    let now = 0;
    const d = await createDecider({
      engine: 'rego',
      policies: { type: 'ssm', ssm, s3, parameterName: Name, bundled: shipped },
      clock: () => now,
    });
    const first = await d.decide(egress('example.org'));
    assert.equal(first.decision.policyVersion, 'shipped');
    assert.equal(first.decision.effect, 'deny');
    const key = 'bundles/after-bundled.json';
    const v = await putBundle(key, 'published', ['example.org:443']);
    await ssm.send(
      new PutParameterCommand({
        Name,
        Type: 'String',
        Overwrite: true,
        Value: JSON.stringify({ bucket: BUCKET, key, versionId: v }),
      }),
    );
    now += 30_000;
    const second = await d.decide(egress('example.org'));
    assert.equal(second.decision.policyVersion, 'published');
    assert.equal(second.decision.effect, 'allow');
  });

  it('refuses {"bundled":true} when no bundle was shipped', async () => {
    const Name = '/aidops/policy/active-bundled-missing';
    await ssm.send(new PutParameterCommand({ Name, Type: 'String', Value: JSON.stringify({ bundled: true }) }));
    await assert.rejects(createDecider({ engine: 'rego', policies: { type: 'ssm', ssm, s3, parameterName: Name } }), {
      name: 'NotFoundError',
    });
  });
});

describe('write staging', () => {
  const config = { bucket: WORK, stagingPrefix: 'staging/', targetPrefix: 'workspace/' };
  const read = async (Key: string) =>
    (await (await s3.send(new GetObjectCommand({ Bucket: WORK, Key }))).Body?.transformToString()) ?? '';
  const exists = async (Key: string) =>
    s3.send(new HeadObjectCommand({ Bucket: WORK, Key })).then(
      () => true,
      () => false,
    );

  it('promotes allowed writes, holds denied ones with the policy reason; approve promotes, reject discards', async () => {
    const deps = { s3, decider: await staged('cedar'), config };
    const res = await stageWrites(deps, [
      write('/home/agent/notes.txt', 'hello'),
      write('/finance/../finance/q3.xlsx', 'numbers'),
      write('/hr/review.md', 'private'),
    ]);
    assert.deepEqual(
      res.map((r) => [r.path, r.status]),
      [
        ['/home/agent/notes.txt', 'promoted'],
        ['/finance/q3.xlsx', 'held'],
        ['/hr/review.md', 'held'],
      ],
    );
    assert.equal(await read('workspace/sess-stage/home/agent/notes.txt'), 'hello');
    assert.equal(await exists('workspace/sess-stage/finance/q3.xlsx'), false);
    assert.deepEqual(res[1]!.outcome.decision.reasons, ['write to protected path: /finance/q3.xlsx']);
    assert.equal(res[1]!.outcome.events.violation?.detail.resource, '/finance/q3.xlsx');

    const held = await listHeld(deps, 'sess-stage');
    assert.deepEqual(held.map((h) => [h.path, h.reasons]).sort(), [
      ['/finance/q3.xlsx', ['write to protected path: /finance/q3.xlsx']],
      ['/hr/review.md', ['write to protected path: /hr/review.md']],
    ]);

    const fin = res[1]!.writeId;
    const ok = await approveHeld(deps, { sessionId: 'sess-stage', writeId: fin, approver: 'carol@example.com' });
    assert.equal(ok.targetKey, 'workspace/sess-stage/finance/q3.xlsx');
    assert.equal(await read(ok.targetKey), 'numbers');
    assert.equal(parseAuditEvent(ok.event).kind, 'decision');
    assert.equal(ok.event.detail.outcome, 'allow');
    assert.match(ok.event.detail.reasons[0]!, /approved by carol@example.com/);

    const hr = res[2]!.writeId;
    const no = await rejectHeld(deps, {
      sessionId: 'sess-stage',
      writeId: hr,
      approver: 'carol@example.com',
      note: 'not now',
    });
    assert.equal(no.event.detail.outcome, 'deny');
    assert.equal(await exists(`staging/sess-stage/${hr}`), false);
    assert.equal(await exists('workspace/sess-stage/hr/review.md'), false);
    assert.deepEqual(await listHeld(deps, 'sess-stage'), []);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: WORK, Prefix: 'staging/' }));
    assert.equal(left.KeyCount ?? 0, 0, 'nothing left in staging');
    await assert.rejects(approveHeld(deps, { sessionId: 'sess-stage', writeId: hr, approver: 'x' }), NotFoundError);
  });

  it('an allowed delete removes the target; a protected delete is held', async () => {
    const deps = { s3, decider: await staged('rego'), config };
    await s3.send(new PutObjectCommand({ Bucket: WORK, Key: 'workspace/sess-stage/home/old.txt', Body: 'x' }));
    const res = await stageWrites(deps, [
      write('/home/old.txt', '', 'fs_delete'),
      write('/secrets/k', '', 'fs_delete'),
    ]);
    assert.deepEqual(
      res.map((r) => r.status),
      ['promoted', 'held'],
    );
    assert.equal(await exists('workspace/sess-stage/home/old.txt'), false);
  });

  it('a write for a session the control plane does not know is refused: not promoted, not held, content dropped', async () => {
    const deps = { s3, decider: await staged('cedar'), config };
    const [r] = await stageWrites(deps, [write('/home/agent/x.txt', 'hi', 'fs_write', 'sess-ghost')]);
    assert.equal(r!.status, 'refused');
    assert.equal(r!.outcome.refusal?.error, 'NotFoundError');
    assert.equal(await exists('workspace/sess-ghost/home/agent/x.txt'), false);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: WORK, Prefix: 'staging/sess-ghost/' }));
    assert.equal(left.KeyCount ?? 0, 0);
  });
});
