/**
 * Demo sections for the audit trail, attestation and policy capabilities.
 * Each runs the shipped cores and handlers against the local control plane.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { DeleteObjectCommand, ListObjectVersionsCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { claimsToJson, decodeEvidence, verifyEvidence } from '../lambdas/attestation/evidence.ts';
import { AttestationError } from '../lambdas/attestation/reasons.ts';
import { newEvent, publishAuditEvents } from '../lambdas/audit/schema.ts';
import { s3AuditStore, trustFromKms, verifyAudit } from '../lambdas/audit/verify.ts';
import { createDecider } from '../lambdas/policy/decide.ts';
import type { DemoContext, DemoSection } from './demo-section.ts';
import { PROJECT_ROOT } from './emulator/setup.ts';
import { ATTESTATION_VECTORS } from './fixtures.ts';
import type { LocalRuntime } from './runtime.ts';

const TESTDATA = ATTESTATION_VECTORS;

export const auditSection: DemoSection = {
  title: 'Audit trail: events → EventBridge → SQS → writer → Object Lock (COMPLIANCE) → signed digests → verifier',
  async run({ rt, out }: DemoContext) {
    const eb = new EventBridgeClient(rt.clientConfig());
    const bus = rt.ref('AuditIngestBus');
    const bucket = rt.ref('AuditBucketPinned');
    const sessionId = 'ses-demo-audit';
    const user = { id: 'alice@example.com', type: 'human' as const };
    const events = [
      newEvent('intent', {
        source: 'agent',
        sessionId,
        user,
        detail: { type: 'prompt', text: 'summarize Q3 revenue for the board' },
      }),
      newEvent('action', {
        source: 'agent',
        sessionId,
        user,
        detail: { type: 'fs_read', path: '/home/agent/q3.xlsx', bytes: 48_211, outcome: 'success' },
      }),
      newEvent('health', {
        source: 'agent',
        sessionId,
        detail: { type: 'metrics', latencyMs: 41, cpuPercent: 23.5, memoryMb: 812 },
      }),
      newEvent('security', {
        source: 'agent',
        sessionId,
        detail: { type: 'attestation_result', verdict: 'pass', platform: 'nitro-enclave', reason: 'all checks passed' },
      }),
    ];
    await publishAuditEvents(eb, bus, events);
    // A malformed event: the writer rejects it with its reason and writes the rest.
    await eb.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: bus,
            Source: 'aidops',
            DetailType: 'AuditEvent',
            Detail: JSON.stringify({ kind: 'gossip', sessionId }),
          },
        ],
      }),
    );
    const pumped = await rt.pumpEventSources({ maxBatches: 1 });
    for (const p of pumped)
      out(
        `writer (polling the queue, local event-source stand-in): ${p.received} message(s) in, ${p.failed} rejected and left for the DLQ`,
      );
    await rt.fireSchedule('AuditIngestDigestSchedule');
    out('digester (local schedule stand-in): signed a digest per chain with the ECC_NIST_P384 KMS key');

    const s3 = new S3Client(rt.clientConfig());
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    const first = (versions.Versions ?? []).find((v) => v.Key?.includes(sessionId));
    if (first) {
      const del = await s3
        .send(new DeleteObjectCommand({ Bucket: bucket, Key: first.Key!, VersionId: first.VersionId! }))
        .then(() => 'deleted (!)')
        .catch((e: Error) => `refused: ${e.name}`);
      out(`try to delete the locked version ${first.Key} → ${del}`);
    }
    const kms = new KMSClient(rt.clientConfig());
    const report = await verifyAudit({
      store: s3AuditStore(s3, bucket),
      trust: await trustFromKms(kms, rt.ref('AuditSigningKey')),
      policy: { retentionDays: 365 },
    });
    for (const c of report.chains) {
      out(
        `verifier: chain ${c.chain}: ${c.intact ? 'INTACT' : 'FINDINGS'}: ${c.objects} object(s), ${c.events} event(s), digested through seq ${c.digestedThroughSeq}`,
      );
    }
    for (const f of report.findings) out(`  finding ${f.code}: ${f.message}`);
    out(
      `verify it yourself (with --keep): npm run aidops -- audit verify --bucket ${bucket} --key-id ${rt.ref('AuditSigningKey')} --endpoint ${rt.endpoint}`,
    );
    if (!report.intact) throw new Error('the audit trail did not verify');
  },
};

export const attestationSection: DemoSection = {
  title: 'Attestation: real Nitro Enclave and SEV-SNP evidence, checked before any secret is released',
  async run({ out }: DemoContext) {
    const doc = decodeEvidence(
      readFileSync(join(TESTDATA, 'nitro-enclave/evervault-2022-10-13-us-east-1.cbor')),
      'raw',
    );
    const at = new Date('2022-10-13T08:58:02.136Z');
    const claims = claimsToJson(verifyEvidence({ type: 'nitro-enclave', evidence: doc, at }));
    out(
      `nitro-enclave evervault-2022-10-13 at ${at.toISOString()}: VERIFIED, module ${claims.moduleId}, debug=${claims.debug}`,
    );
    const cases: [string, () => unknown][] = [
      [
        'the same document a day later',
        () => verifyEvidence({ type: 'nitro-enclave', evidence: doc, at: new Date('2022-10-14T09:00:00Z') }),
      ],
      [
        'one flipped payload byte',
        () => {
          const bad = Buffer.from(doc);
          bad[bad.length - 200] = (bad[bad.length - 200] ?? 0) ^ 1;
          return verifyEvidence({ type: 'nitro-enclave', evidence: bad, at });
        },
      ],
      [
        'a debug enclave under the default policy',
        () =>
          verifyEvidence({
            type: 'nitro-enclave',
            evidence: decodeEvidence(
              readFileSync(join(TESTDATA, 'nitro-enclave/evervault-2022-10-12-us-east-1-debug.cbor')),
              'raw',
            ),
            at: new Date('2022-10-12T13:50:06.081Z'),
          }),
      ],
      [
        'a nonce the control plane did not issue',
        () => verifyEvidence({ type: 'nitro-enclave', evidence: doc, at, nonce: Buffer.alloc(32, 7) }),
      ],
    ];
    for (const [what, fn] of cases) {
      try {
        fn();
        out(`${what}: ACCEPTED (unexpected)`);
        throw new Error(`accepted ${what}`);
      } catch (e) {
        if (!(e instanceof AttestationError)) throw e;
        out(`${what}: REJECTED ${e.reason}: ${e.message}`);
      }
    }
  },
};

export const policySection: DemoSection = {
  title: 'Policy as code: the same request decided by Cedar and by Rego, every decision an audit event',
  async run({ out }: DemoContext) {
    const base = {
      session: { id: 'ses-demo-policy', tier: 'medium', cohort: 'pilot', approvedScopes: [] },
      principal: { id: 'agent-7' },
      context: { time: new Date().toISOString(), flags: {}, attestation: { status: 'verified' } },
    };
    const requests = [
      { ...base, action: 'fs_write', resource: { kind: 'file', path: '/home/agent/notes.md' } },
      { ...base, action: 'fs_write', resource: { kind: 'file', path: '/finance/../hr/salaries.csv' } },
      { ...base, action: 'fs_write', resource: { kind: 'file', path: '/finance2/ok.txt' } },
    ];
    for (const engine of ['cedar', 'rego'] as const) {
      const decider = await createDecider({ engine, policies: join(PROJECT_ROOT, 'policies') });
      for (const r of requests) {
        const o = await decider.decide(r);
        out(
          `${engine.padEnd(5)} ${r.resource.path.padEnd(28)} → ${o.decision.effect.toUpperCase().padEnd(5)} ${o.decision.reasons.join('; ')} (${o.decision.durationMicros} µs${o.events.violation ? ', PolicyViolation event' : ''})`,
        );
      }
    }
  },
};

/** How many messages the queue holds (visible and in flight). */
async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const a = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(a.Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

/**
 * Waits (at most `timeoutMs`) until the audit queue is empty: every event
 * written, or retried until the redrive policy moved it to the DLQ.
 */
async function waitForAuditQueue(rt: LocalRuntime, timeoutMs: number): Promise<{ ms: number; deadLetters: number }> {
  const sqs = new SQSClient(rt.clientConfig());
  const queue = rt.ref('AuditIngestQueue');
  const t0 = Date.now();
  for (;;) {
    await rt.pumpEventSources({ timeoutMs });
    const d = await queueDepth(sqs, queue);
    if (d.visible + d.inFlight === 0) break;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`the audit queue still holds ${d.visible} + ${d.inFlight} in flight after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const dlq = await queueDepth(sqs, rt.ref('AuditIngestDeadLetters'));
  return { ms: Date.now() - t0, deadLetters: dlq.visible + dlq.inFlight };
}

export const auditEverythingSection: DemoSection = {
  title: 'Audit trail, whole demo: every session and workflow chain written, digested and verified',
  async run({ rt, out }: DemoContext) {
    const { ms, deadLetters } = await waitForAuditQueue(rt, 30_000);
    out(
      `audit queue empty (waited ${ms} ms for the writer); ${deadLetters} rejected event(s) in the dead-letter queue`,
    );
    await rt.fireSchedule('AuditIngestDigestSchedule');
    const bucket = rt.ref('AuditBucketPinned');
    const report = await verifyAudit({
      store: s3AuditStore(new S3Client(rt.clientConfig()), bucket),
      trust: await trustFromKms(new KMSClient(rt.clientConfig()), rt.ref('AuditSigningKey')),
      policy: { retentionDays: 365 },
    });
    const intact = report.chains.filter((c) => c.intact);
    out(`verifier: ${intact.length} of ${report.chains.length} chain(s) verified INTACT in ${bucket}`);
    for (const c of report.chains)
      out(
        `  ${c.chain.padEnd(36)} ${c.intact ? 'INTACT  ' : 'FINDINGS'} ${c.objects} object(s), ${c.events} event(s), digested through seq ${c.digestedThroughSeq}`,
      );
    for (const f of report.findings) out(`  finding ${f.code}: ${f.message}`);
    if (!report.intact || report.chains.length === 0) throw new Error('the audit trail did not verify');
  },
};
