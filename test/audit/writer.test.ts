/** The writer core against moto: real locked bucket, real head table, real HMAC secret. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { chainObjectKey, parseChainHeader } from '../../lambdas/audit/chain.ts';
import { clearHmacKeyCache } from '../../lambdas/audit/redact.ts';
import {
  legalHold,
  ObjectExistsError,
  putLocked,
  putRetentionGuarded,
  RetentionGuardError,
} from '../../lambdas/audit/retention-guard.ts';
import { AUDIT_DETAIL_TYPE, AUDIT_EVENT_SOURCE, newEvent, publishAuditEvents } from '../../lambdas/audit/schema.ts';
import { writeBatch } from '../../lambdas/audit/writer.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { type MotoServer, startMoto } from '../../local/emulator/moto.ts';
import {
  type AuditEnv,
  codes,
  drainQueueOnce,
  ebRecord,
  sampleEvents,
  setupAuditEnv,
  verifySession,
  writeChain,
} from './helpers.ts';

let moto: MotoServer;
let env: AuditEnv;

before(async () => {
  moto = await startMoto();
  env = await setupAuditEnv(moto.endpoint, { mode: 'COMPLIANCE', defaultRetention: true });
});
after(async () => {
  await moto?.stop();
});

async function getText(key: string, versionId?: string): Promise<{ text: string; versionId?: string }> {
  const out = await env.s3.send(new GetObjectCommand({ Bucket: env.bucket, Key: key, VersionId: versionId }));
  return { text: await out.Body!.transformToString(), versionId: out.VersionId };
}

describe('audit writer against moto (COMPLIANCE bucket)', () => {
  it('writes one locked, encrypted, checksummed JSON Lines object per chain per batch', async () => {
    const a = sampleEvents('sess-a', 5);
    const b = sampleEvents('sess-b', 4);
    const cp = sampleEvents(null, 2);
    const records = [...a, ...b, ...cp].map((e) => ebRecord(e));
    const started = Date.now();
    const r = await writeBatch(records, env.deps);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.written.map((w) => `${w.chain}:${w.seq}:${w.count}`).sort(), [
      'control-plane:1:2',
      'sess-a:1:5',
      'sess-b:1:4',
    ]);
    const key = chainObjectKey('audit/', 'sess-a', 1);
    const head = await env.s3.send(new HeadObjectCommand({ Bucket: env.bucket, Key: key, ChecksumMode: 'ENABLED' }));
    assert.equal(head.ObjectLockMode, 'COMPLIANCE');
    const days = (head.ObjectLockRetainUntilDate!.getTime() - started) / 86_400_000;
    assert.ok(days > 364.99 && days < 365.01, `retention ${days} days`);
    assert.equal(head.ServerSideEncryption, 'aws:kms');
    assert.equal(head.SSEKMSKeyId, env.sseKeyId);
    const { text } = await getText(key);
    const sha = createHash('sha256').update(text).digest();
    assert.equal(head.ChecksumSHA256, sha.toString('base64'));
    const lines = text.trimEnd().split('\n');
    const header = parseChainHeader(lines[0]!);
    assert.ok(header);
    assert.equal(header.chain, 'sess-a');
    assert.equal(header.seq, 1);
    assert.equal(header.prevObjectSha256, null);
    assert.equal(header.count, 5);
    assert.equal(lines.length, 6);
    const ids = lines.slice(1).map((l) => JSON.parse(l).eventId as string);
    assert.deepEqual(ids, [...a.map((e) => e.eventId)].sort());

    // Second batch links to the first by key, version and hash.
    const r2 = await writeBatch(
      sampleEvents('sess-a', 2).map((e) => ebRecord(e)),
      env.deps,
    );
    assert.equal(r2.written[0]?.seq, 2);
    const second = await getText(chainObjectKey('audit/', 'sess-a', 2));
    const h2 = parseChainHeader(second.text.split('\n')[0]!)!;
    assert.equal(h2.prevKey, key);
    assert.equal(h2.prevVersionId, head.VersionId);
    assert.equal(h2.prevObjectSha256, sha.toString('hex'));
  });

  it('never writes sensitive raw values; equal values give equal tokens', async () => {
    const e1 = newEvent('intent', {
      source: 'aidops.agent',
      sessionId: 'sess-priv',
      user: { id: 'bob@corp.example', type: 'human' },
      detail: { type: 'prompt', text: 'transfer $1M to account 12345' },
    });
    const e2 = newEvent('action', {
      source: 'aidops.agent',
      sessionId: 'sess-priv',
      user: { id: 'bob@corp.example', type: 'human' },
      detail: { type: 'fs_write', path: '/home/bob/.ssh/id_rsa', bytes: 5, outcome: 'success', content: 'PRIVATE KEY' },
    });
    clearHmacKeyCache();
    const r = await writeBatch([ebRecord(e1), ebRecord(e2)], env.deps);
    assert.deepEqual(r.failures, []);
    const { text } = await getText(chainObjectKey('audit/', 'sess-priv', 1));
    for (const raw of ['bob@corp.example', 'transfer $1M', 'PRIVATE KEY']) assert.ok(!text.includes(raw), raw);
    const [, l1, l2] = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.match(l1.user.id, /^hmac-sha256:[0-9a-f]{8}:[A-Za-z0-9_-]{43}$/);
    assert.equal(l1.user.id, l2.user.id);
    assert.notEqual(l1.detail.text, l2.detail.content);
    assert.equal(l2.detail.path, '/home/bob/.ssh/id_rsa', 'fields not marked sensitive are kept');
  });

  it('rejects bad events with their reason and writes the rest of the batch', async () => {
    const good = sampleEvents('sess-mixed', 3);
    const unknownKind = { ...sampleEvents('sess-mixed', 1)[0]!, kind: 'telemetry' };
    const badPort = newEvent('action', {
      source: 'x',
      sessionId: 'sess-mixed',
      detail: { type: 'net_connect', host: 'h', port: 1, protocol: 'tcp', outcome: 'success' },
    }) as unknown as { detail: { port: number } };
    badPort.detail.port = 70_000;
    const rejected: string[] = [];
    const records = [
      ebRecord(good[0], 'ok-1'),
      ebRecord(unknownKind, 'bad-kind'),
      { messageId: 'bad-json', body: '{nope' },
      ebRecord(good[1], 'ok-2'),
      ebRecord(badPort, 'bad-port'),
      { messageId: 'bad-source', body: JSON.stringify({ 'detail-type': 'Other', source: 'x', detail: good[2] }) },
      ebRecord(good[2], 'ok-3'),
    ];
    const r = await writeBatch(records, { ...env.deps, onReject: (f) => rejected.push(f.messageId) });
    const byId = new Map(r.failures.map((f) => [f.messageId, f]));
    assert.deepEqual([...byId.keys()].sort(), ['bad-json', 'bad-kind', 'bad-port', 'bad-source']);
    assert.deepEqual(rejected.sort(), ['bad-json', 'bad-kind', 'bad-port', 'bad-source']);
    assert.equal(byId.get('bad-json')?.code, 'MALFORMED_JSON');
    assert.equal(byId.get('bad-source')?.code, 'NOT_AN_AUDIT_EVENT');
    assert.equal(byId.get('bad-kind')?.code, 'INVALID_EVENT');
    assert.deepEqual(
      byId.get('bad-kind')?.issues?.map((i) => i.path),
      ['kind'],
    );
    assert.deepEqual(
      byId.get('bad-port')?.issues?.map((i) => i.path),
      ['detail.port'],
    );
    assert.equal(r.written.length, 1);
    const { text } = await getText(chainObjectKey('audit/', 'sess-mixed', 1));
    const ids = text
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => JSON.parse(l).eventId);
    assert.deepEqual(ids.sort(), good.map((e) => e.eventId).sort());
  });

  it('a locked version cannot be deleted; a new version never replaces it; the writer never re-creates a key', async () => {
    await writeChain(env, 'sess-lock', 1);
    const key = chainObjectKey('audit/', 'sess-lock', 1);
    const original = await getText(key);
    await assert.rejects(
      env.s3.send(new DeleteObjectCommand({ Bucket: env.bucket, Key: key, VersionId: original.versionId })),
      (e: Error) => e.name === 'AccessDenied',
    );
    await assert.rejects(
      env.s3.send(
        new DeleteObjectCommand({
          Bucket: env.bucket,
          Key: key,
          VersionId: original.versionId,
          BypassGovernanceRetention: true,
        }),
      ),
      (e: Error) => e.name === 'AccessDenied',
    );
    // The writer's own path refuses to create an existing key (If-None-Match: *).
    await assert.rejects(
      putLocked(env.s3, {
        bucket: env.bucket,
        key,
        body: Buffer.from('x'),
        kmsKeyId: env.sseKeyId,
        retainUntil: new Date(Date.now() + 86_400_000),
      }),
      ObjectExistsError,
    );
    // A plain PUT adds a version (S3 never changes a version in place); the locked one is intact and detected.
    await env.s3.send(
      new PutObjectCommand({ Bucket: env.bucket, Key: key, Body: 'forged', ChecksumAlgorithm: 'SHA256' }),
    );
    assert.equal((await getText(key, original.versionId)).text, original.text);
    const report = await verifySession(env, 'sess-lock');
    assert.deepEqual(codes(report), ['EXTRA_VERSION']);
  });

  it('a delete marker hides but does not remove a locked object, and is reported', async () => {
    await writeChain(env, 'sess-marker', 2);
    const key = chainObjectKey('audit/', 'sess-marker', 1);
    await env.s3.send(new DeleteObjectCommand({ Bucket: env.bucket, Key: key }));
    const v = await env.s3.send(new ListObjectVersionsCommand({ Bucket: env.bucket, Prefix: key }));
    assert.equal(v.Versions?.length, 1);
    assert.deepEqual(codes(await verifySession(env, 'sess-marker')), ['DELETE_MARKER']);
  });

  it('the retention guard refuses to shorten COMPLIANCE retention that moto would accept', async () => {
    await writeChain(env, 'sess-guard', 1);
    const key = chainObjectKey('audit/', 'sess-guard', 1);
    const before = await env.s3.send(new HeadObjectCommand({ Bucket: env.bucket, Key: key }));
    const reported: string[] = [];
    await assert.rejects(
      putRetentionGuarded(
        env.s3,
        { bucket: env.bucket, key, versionId: before.VersionId! },
        { mode: 'COMPLIANCE', retainUntil: new Date(Date.now() + 86_400_000) },
        (v) => reported.push(v.reason),
      ),
      RetentionGuardError,
    );
    assert.deepEqual(reported, ['COMPLIANCE retention cannot be shortened']);
    const afterHead = await env.s3.send(new HeadObjectCommand({ Bucket: env.bucket, Key: key }));
    assert.equal(afterHead.ObjectLockRetainUntilDate?.getTime(), before.ObjectLockRetainUntilDate?.getTime());
    // Extending is allowed and applied.
    const longer = new Date(before.ObjectLockRetainUntilDate!.getTime() + 86_400_000);
    await putRetentionGuarded(
      env.s3,
      { bucket: env.bucket, key, versionId: before.VersionId! },
      {
        mode: 'COMPLIANCE',
        retainUntil: longer,
      },
    );
    const extended = await env.s3.send(new HeadObjectCommand({ Bucket: env.bucket, Key: key }));
    assert.equal(extended.ObjectLockRetainUntilDate?.getTime(), longer.getTime());
    // Legal hold for evidence packets.
    await legalHold(env.s3, env.bucket, key, before.VersionId!);
    const held = await env.s3.send(
      new HeadObjectCommand({ Bucket: env.bucket, Key: key, VersionId: before.VersionId }),
    );
    assert.equal(held.ObjectLockLegalHoldStatus, 'ON');
  });

  it('concurrent writers on one chain never fork it: they serialize on the head claim', async () => {
    const batches = Array.from({ length: 4 }, () => sampleEvents('sess-race', 3).map((e) => ebRecord(e)));
    const results = await Promise.all(batches.map((b) => writeBatch(b, env.deps)));
    assert.deepEqual(
      results.flatMap((r) => r.failures),
      [],
    );
    assert.deepEqual(results.map((r) => r.written[0]!.seq).sort(), [1, 2, 3, 4]);
    assert.deepEqual(
      results.flatMap((r) => r.incidents),
      [],
    );
    const r = await writeBatch(
      sampleEvents('sess-race', 2).map((e) => ebRecord(e)),
      env.deps,
    );
    assert.equal(r.written[0]?.seq, 5);
    const report = await verifySession(env, 'sess-race');
    assert.deepEqual(report.findings, []);
    assert.equal(report.chains[0]?.objects, 5);
    assert.equal(report.chains[0]?.events, 14);
  });

  it('a lost head item is not rebuilt from the bucket: the writer skips the keys it finds taken and reports each', async () => {
    await writeChain(env, 'sess-lost', 2);
    await env.ddb.send(new DeleteItemCommand({ TableName: env.table, Key: { chain: { S: 'sess-lost' } } }));
    const r = await writeBatch(
      sampleEvents('sess-lost', 2).map((e) => ebRecord(e)),
      env.deps,
    );
    assert.equal(r.written[0]?.seq, 3);
    assert.deepEqual(
      r.incidents.map((i) => i.key),
      [chainObjectKey('audit/', 'sess-lost', 1), chainObjectKey('audit/', 'sess-lost', 2)],
    );
    const header = parseChainHeader((await getText(chainObjectKey('audit/', 'sess-lost', 3))).text.split('\n')[0]!)!;
    assert.equal(header.prevKey, null);
    assert.deepEqual(
      header.skippedKeys,
      r.incidents.map((i) => i.key),
    );
    // The verifier cannot vouch for what the head table no longer knows (restore the table from PITR).
    assert.deepEqual(
      (await verifySession(env, 'sess-lost')).findings.map((f) => `${f.code}@${f.seq}`),
      ['OBJECT_FORGED@1', 'OBJECT_FORGED@2'],
    );
  });

  it('a writer that died between its claim and its PUT, or after it, does not block the chain', async () => {
    const clock = { t: Date.now() };
    const deps = { ...env.deps, clock: () => clock.t };
    await writeChain(env, 'sess-crash', 1);
    // A claim whose PUT never happened: after the lease it is released and the seq reused.
    const s1 = await env.heads.get('sess-crash');
    const key2 = chainObjectKey('audit/', 'sess-crash', 2);
    assert.ok(
      await env.heads.claim('sess-crash', s1.rev, {
        seq: 2,
        key: key2,
        sha256: 'a'.repeat(64),
        owner: 'x',
        at: clock.t,
      }),
    );
    clock.t += env.deps.config.claimLeaseSeconds * 1000;
    const r = await writeBatch(
      sampleEvents('sess-crash', 2).map((e) => ebRecord(e)),
      deps,
    );
    assert.deepEqual([r.written[0]?.seq, r.incidents.length], [2, 0]);
    // A claim whose PUT landed: after the lease the object (the claimed hash) becomes the head.
    const s2 = await env.heads.get('sess-crash');
    const key3 = chainObjectKey('audit/', 'sess-crash', 3);
    const body = Buffer.from(
      `${JSON.stringify({ format: 'aidops.audit.chain-object/1', chain: 'sess-crash', seq: 3, prevObjectSha256: s2.head!.sha256, prevKey: s2.head!.key, prevVersionId: s2.head!.versionId, count: 0, writtenAt: new Date().toISOString(), firstEventTime: new Date().toISOString(), lastEventTime: new Date().toISOString() })}\n\n`,
    );
    const sha = createHash('sha256').update(body).digest('hex');
    assert.ok(await env.heads.claim('sess-crash', s2.rev, { seq: 3, key: key3, sha256: sha, owner: 'y', at: clock.t }));
    await putLocked(env.s3, {
      bucket: env.bucket,
      key: key3,
      body,
      kmsKeyId: env.sseKeyId,
      retainUntil: new Date(Date.now() + 365 * 86_400_000),
    });
    clock.t += env.deps.config.claimLeaseSeconds * 1000;
    const r2 = await writeBatch(
      sampleEvents('sess-crash', 2).map((e) => ebRecord(e)),
      deps,
    );
    assert.deepEqual([r2.written[0]?.seq, r2.incidents.length], [4, 0]);
    assert.equal((await env.heads.get('sess-crash')).head?.seq, 4);
  });

  it('EventBridge → SQS → drainQueueOnce delivers like the Lambda event-source mapping', async () => {
    const cfg = awsClientConfig({ endpoint: moto.endpoint });
    const eb = new EventBridgeClient(cfg);
    const sqs = new SQSClient(cfg);
    await eb.send(new CreateEventBusCommand({ Name: 'aidops-audit' }));
    const q = await sqs.send(new CreateQueueCommand({ QueueName: 'aidops-audit' }));
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl, AttributeNames: ['QueueArn'] })))
      .Attributes!.QueueArn!;
    await eb.send(
      new PutRuleCommand({
        Name: 'audit-to-queue',
        EventBusName: 'aidops-audit',
        EventPattern: JSON.stringify({ source: [AUDIT_EVENT_SOURCE], 'detail-type': [AUDIT_DETAIL_TYPE] }),
      }),
    );
    await eb.send(
      new PutTargetsCommand({ Rule: 'audit-to-queue', EventBusName: 'aidops-audit', Targets: [{ Id: 'q', Arn: arn }] }),
    );
    const events = sampleEvents('sess-eb', 12);
    assert.deepEqual(await publishAuditEvents(eb, 'aidops-audit', events), { published: 12 });
    await sqs.send(new SendMessageCommand({ QueueUrl: q.QueueUrl, MessageBody: 'not json' }));
    let written = 0;
    let failed: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await drainQueueOnce(sqs, q.QueueUrl!, env.deps, { visibilityTimeout: 30 });
      if (r.received === 0) break;
      written += r.result.written.reduce((a, w) => a + w.count, 0);
      failed = failed.concat(r.result.failures.map((f) => f.code));
      assert.equal(r.deleted, r.received - r.result.failures.length);
    }
    assert.equal(written, 12);
    assert.deepEqual(failed, ['MALFORMED_JSON']);
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: q.QueueUrl,
        AttributeNames: ['ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    assert.equal(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible, '1', 'the bad message stays for redrive');
  });
});
