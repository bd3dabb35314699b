/**
 * Plugin admission workflow (synthesized ASL, real handlers) against moto, with a real
 * GitHub artifact attestation (Sigstore bundle v0.3, DSSE, SLSA v1) from
 * test/fixtures/sigstore/github-attestations: admitted after a person approves,
 * refused when one byte changes, and denied by the policy engine once revoked.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AuditEvent, AuditEventOf } from '../../lambdas/audit/schema.ts';
import { PluginRegistry, toPolicyPluginFacts } from '../../lambdas/plugins/registry.ts';
import { createDecider } from '../../lambdas/policy/decide.ts';
import { names } from '../../lambdas/shared/names.ts';
import { DEMO_TRUST_POLICY_FILE, SIGSTORE_VECTORS } from '../../local/fixtures.ts';
import { callApi } from '../../local/standins/api-gateway/client.ts';
import { useRuntime } from '../helpers/runtime.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SIGSTORE = SIGSTORE_VECTORS;
const ROOT = readFileSync(path.join(SIGSTORE, 'roots/public-good-trusted_root.json'));
const ARTIFACT = readFileSync(path.join(SIGSTORE, 'github-attestations/custom-issuer-artifact'));
const BUNDLE = readFileSync(path.join(SIGSTORE, 'github-attestations/custom-issuer.sigstore.json'));
const DIGEST = `sha256:${createHash('sha256').update(ARTIFACT).digest('hex')}`;
const SAN = 'https://github.com/too-legit/attest/.github/workflows/integration.yml@refs/heads/main';
const MACHINE = names().pluginAdmissionMachine;
const PLUGIN = 'attest-demo';

// The vector's signer (a GHE-style custom issuer) and its SLSA v1 provenance, as a deployment would allow them.
// The demo's policy: it names this vector's signer (GHE-style issuer) and its builder.
const TRUST_POLICY = JSON.parse(readFileSync(DEMO_TRUST_POLICY_FILE, 'utf8'));

describe('plugin admission workflow (synthesized ASL against moto)', { timeout: 120_000 }, () => {
  const rt = useRuntime({ config: { pluginTrustPolicy: JSON.stringify(TRUST_POLICY) } });
  const s3 = () => new S3Client(rt().clientConfig());
  const sqs = () => new SQSClient(rt().clientConfig());
  const registry = () =>
    new PluginRegistry(new DynamoDBClient(rt().clientConfig()), {
      tableName: rt().ref('PluginsRegistry'),
      cacheTtlMs: 0,
    });

  /** Every audit event that reached the audit queue so far (EventBridge rule → SQS in moto). */
  const audit: AuditEvent[] = [];
  async function drainAudit(): Promise<AuditEvent[]> {
    for (;;) {
      const r = await sqs().send(
        new ReceiveMessageCommand({ QueueUrl: rt().ref('AuditIngestQueue'), MaxNumberOfMessages: 10 }),
      );
      if (!r.Messages?.length) return audit;
      for (const m of r.Messages) audit.push((JSON.parse(m.Body!) as { detail: AuditEvent }).detail);
    }
  }
  const decisionsFor = (pluginVersion: string) =>
    audit.filter(
      (e): e is AuditEventOf<'decision'> =>
        e.kind === 'decision' && e.detail.resource === `plugin:${PLUGIN}@${pluginVersion}`,
    );

  async function stage(version: string, artifact: Buffer = ARTIFACT) {
    const key = `staging/${PLUGIN}/${version}/artifact`;
    const bundleKey = `${key}.sigstore.json`;
    const Bucket = rt().ref('PluginsStaging');
    await s3().send(new PutObjectCommand({ Bucket, Key: key, Body: artifact }));
    await s3().send(new PutObjectCommand({ Bucket, Key: bundleKey, Body: BUNDLE }));
    return { pluginId: PLUGIN, version, key, bundleKey };
  }

  /** Approval notifications, seen by an SQS queue subscribed to the approvals topic. */
  let approvalsQueue = '';
  async function approvalMessages(): Promise<string[]> {
    const r = await sqs().send(new ReceiveMessageCommand({ QueueUrl: approvalsQueue, MaxNumberOfMessages: 10 }));
    return (r.Messages ?? []).map((m) => (JSON.parse(m.Body!) as { Message: string }).Message);
  }

  it('setup: the trusted root is in the cache and approvers are subscribed', async () => {
    await s3().send(
      new PutObjectCommand({ Bucket: rt().ref('PluginsStaging'), Key: 'sigstore/trusted_root.json', Body: ROOT }),
    );
    approvalsQueue = (await sqs().send(new CreateQueueCommand({ QueueName: 'approvers' }))).QueueUrl!;
    const arn = (
      await sqs().send(new GetQueueAttributesCommand({ QueueUrl: approvalsQueue, AttributeNames: ['QueueArn'] }))
    ).Attributes!.QueueArn!;
    await new SNSClient(rt().clientConfig()).send(
      new SubscribeCommand({ TopicArn: rt().ref('PluginAdmissionApprovals'), Protocol: 'sqs', Endpoint: arn }),
    );
  });

  it('a tampered artifact is refused with DIGEST_MISMATCH, audited, and nothing is recorded', async () => {
    const bad = Buffer.from(ARTIFACT);
    bad[0] = (bad[0] ?? 0) ^ 0x01;
    const ex = await rt().execute(MACHINE, { ...(await stage('0.0.1', bad)), requestedBy: 'alice' }, 'tampered-1');
    assert.equal(ex.status, 'FAILED');
    assert.equal(ex.error, 'DIGEST_MISMATCH', `${ex.error}: ${ex.cause}`);
    assert.match(ex.cause ?? '', /digest/i);
    assert.equal(await registry().get(PLUGIN, '0.0.1'), undefined);
    await drainAudit();
    const [deny, ...more] = decisionsFor('0.0.1');
    assert.equal(more.length, 0);
    assert.equal(deny?.kind, 'decision');
    assert.equal(deny?.detail.outcome, 'deny');
    assert.equal(deny?.detail.reasons[0], 'DIGEST_MISMATCH');
    const states = ex.timeline.filter((e) => e.type === 'StateEntered').map((e) => e.state);
    assert.ok(!states.includes('Wait for approval'));
    assert.ok(!states.includes('Record admission in the registry'));
  });

  it('a denied approval fails with APPROVAL_DENIED and records nothing', async () => {
    const run = rt().sfn.start(MACHINE, { ...(await stage('0.9.0')), requestedBy: 'alice' }, 'denied-1');
    const parked = await rt().sfn.waitForPending(
      (p) => p.stateName === 'Wait for approval' && p.executionArn === run.executionArn,
    );
    rt().sfn.sendTaskFailure(parked.token, 'ApprovalDenied', 'publisher not vetted');
    const ex = await run.done;
    assert.equal(ex.status, 'FAILED');
    assert.equal(ex.error, 'APPROVAL_DENIED');
    assert.equal(ex.cause, 'publisher not vetted');
    assert.equal(await registry().get(PLUGIN, '0.9.0'), undefined);
    assert.equal(await registry().getPublisher('github:too-legit/attest'), undefined);
    await drainAudit();
    const outcomes = decisionsFor('0.9.0').map((e) => `${e.detail.action}:${e.detail.outcome}:${e.detail.reasons[0]}`);
    assert.deepEqual(outcomes, ['plugin_verify:allow:VERIFIED', 'plugin_admit:deny:APPROVAL_DENIED']);
  });

  it('the requester cannot approve their own admission', async () => {
    const run = rt().sfn.start(MACHINE, { ...(await stage('0.9.1')), requestedBy: 'alice' }, 'self-1');
    const parked = await rt().sfn.waitForPending((p) => p.executionArn === run.executionArn);
    rt().sfn.sendTaskSuccess(parked.token, { approvedBy: 'alice' });
    const ex = await run.done;
    assert.equal(ex.error, 'APPROVAL_INVALID');
    assert.equal(await registry().get(PLUGIN, '0.9.1'), undefined);
  });

  it('a real signed artifact is admitted after approval: registry item, decision events, notification', async () => {
    const input = { ...(await stage('1.0.0')), requestedBy: 'alice' };
    const run = rt().sfn.start(MACHINE, input, 'admit-1');
    const parked = await rt().sfn.waitForPending(
      (p) => p.stateName === 'Wait for approval' && p.executionArn === run.executionArn,
    );
    // The parked task is lambda:invoke.waitForTaskToken: its parameters carry the handler's payload.
    const waiting = (parked.input as { Payload: { facts: { publisher: string; digest: string } } }).Payload;
    assert.equal(waiting.facts.publisher, 'github:too-legit/attest');
    assert.equal(waiting.facts.digest, DIGEST);
    // The approvers got the facts and the exact command with this token.
    // The token parks before the handler's SNS publish returns: poll the subscribed queue (bounded).
    let note: string | undefined;
    for (let i = 0; i < 50 && !note; i++) {
      note = (await approvalMessages()).find((m) => m.includes(`${PLUGIN}@1.0.0`));
      if (!note) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(note, 'an approval notification was published');
    assert.ok(note.includes('/v1/approvals/plugin/admit-1/approve'), 'the notification names the door route');
    assert.ok(!note.includes(parked.token), 'the task token is never mailed: only the door answers it');
    assert.ok(note.includes(DIGEST) && note.includes(SAN));

    // A second principal approves through the people's door, signed with an approver role session.
    const bob = await rt().assumeRole('OperatorsApprover', 'bob');
    const approve = async () =>
      await callApi(`${rt().apiEndpoint('PeopleDoorApi')}v1/approvals/plugin/admit-1/approve`, {
        method: 'POST',
        credentials: bob,
        body: '{}',
        headers: { 'content-type': 'application/json' },
      });
    let answered = await approve();
    for (let i = 0; answered.status === 404 && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 50));
      answered = await approve();
    }
    assert.equal(answered.status, 200, answered.text);
    const bobArn = (answered.json() as { by: string }).by;
    assert.match(bobArn, /^arn:aws:sts::\d{12}:assumed-role\/[^/]+\/bob$/);
    const ex = await run.done;
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    const out = ex.output as Record<string, string>;
    assert.equal(out.verdict, 'admitted');
    assert.equal(out.digest, DIGEST);
    assert.equal(out.approvedBy, bobArn);

    const item = await registry().get(PLUGIN, '1.0.0');
    assert.ok(item, 'registry item exists in DynamoDB');
    assert.equal(item.status, 'admitted');
    assert.equal(item.digest, DIGEST);
    assert.equal(item.publisher, 'github:too-legit/attest');
    assert.equal(item.admittedBy, 'alice');
    assert.equal(item.approvedBy, bobArn, 'the registry records the approver as its principal ARN');
    assert.equal(item.signer.subjectAlternativeName, SAN);
    assert.equal(
      (item.provenance as { sourceCommit: string }).sourceCommit,
      '283bf967fa3c591925dd25e6a6e8e781542117bf',
    );
    const ttl = Date.parse(item.expiresAt) - Date.parse(item.admittedAt);
    assert.equal(ttl, 30 * 86_400_000);

    await drainAudit();
    const events = decisionsFor('1.0.0');
    assert.deepEqual(
      events.map((e) => `${e.detail.action}:${e.detail.outcome}`),
      ['plugin_verify:allow', 'plugin_admit:allow'],
    );
    assert.equal(events[1]?.eventId, out.decisionEventId);
    assert.ok(events[1]?.detail.reasons.includes(`approved by ${bobArn}`));
  });

  it('a known publisher needs no approval for its next version', async () => {
    const ex = await rt().execute(MACHINE, { ...(await stage('1.0.1')), requestedBy: 'alice' }, 'admit-2');
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}`);
    const states = ex.timeline.filter((e) => e.type === 'StateEntered').map((e) => e.state);
    assert.ok(states.includes('No approval needed') && !states.includes('Wait for approval'));
    assert.equal((await registry().get(PLUGIN, '1.0.1'))?.approvedBy, null);
  });

  it('once revoked, the policy engine denies plugin_exec of that version (and allowed it before)', async () => {
    const decider = await createDecider({ engine: 'cedar', policies: path.resolve(HERE, '../../policies') });
    const now = new Date();
    const decide = async () => {
      const facts = await registry().isAllowed(PLUGIN, '1.0.0', DIGEST, now);
      return decider.decide({
        session: { id: 'ses-plugin-1', tier: 'standard', cohort: 'pilot', approvedScopes: [] },
        principal: { id: 'alice@example.com' },
        action: 'plugin_exec',
        resource: { kind: 'plugin', pluginId: PLUGIN, digest: DIGEST },
        context: {
          time: now.toISOString(),
          flags: {},
          attestation: { status: 'verified' },
          plugin: toPolicyPluginFacts(PLUGIN, DIGEST, facts),
        },
      });
    };
    assert.equal((await decide()).decision.effect, 'allow');
    const revokeFn = rt().functionName('PluginsRevoke');
    await rt().invoke(revokeFn, { pluginId: PLUGIN, version: '1.0.0', by: 'secops', reason: 'compromised' });
    const after = await decide();
    assert.equal(after.decision.effect, 'deny');
    assert.deepEqual(after.decision.reasons, [`plugin revoked: ${PLUGIN}`]);
    // Re-staging the revoked version is refused at admission too.
    const again = await rt().execute(MACHINE, { ...(await stage('1.0.0')), requestedBy: 'alice' }, 'readmit-1');
    assert.equal(again.error, 'VERSION_REVOKED');
  });
});
