/**
 * Writer core throughput: events/s for batches of 10,000 through validation,
 * redaction (HMAC tokenization, default fields), grouping, chaining (header +
 * SHA-256 of each object) and serialization — beside plain JSON.stringify of the
 * same events. S3/DynamoDB calls are not included (they are I/O, one per chain).
 *
 *   node bench/audit-writer.ts
 */
import { createHash, randomBytes } from 'node:crypto';
import { buildChainObject } from '../lambdas/audit/chain.ts';
import { hmacKeyFromBytes, makeRedactor, parsePrivacyConfig } from '../lambdas/audit/redact.ts';
import { AUDIT_DETAIL_TYPE, AUDIT_EVENT_SOURCE, type AuditEvent, newEvent } from '../lambdas/audit/schema.ts';
import { prepareBatch } from '../lambdas/audit/writer.ts';

const BATCH = 10_000;
const RUNS = 7;
const events = benchEvents(BATCH, 25);
const records = events.map((e, i) => ({ messageId: String(i), body: ebBody(e) }));
const redact = makeRedactor(parsePrivacyConfig({}), hmacKeyFromBytes(randomBytes(32)));

function writerCore(): number {
  const { chains, rejected } = prepareBatch(records, redact);
  if (rejected.length > 0) throw new Error('bench events were rejected');
  let bytes = 0;
  for (const c of chains) {
    const { body } = buildChainObject(
      c.chain,
      1,
      null,
      c.lines,
      { first: c.firstEventTime, last: c.lastEventTime },
      new Date(),
    );
    createHash('sha256').update(body).digest();
    bytes += body.length;
  }
  return bytes;
}

function plain(): number {
  let bytes = 0;
  for (const e of events) bytes += JSON.stringify(e).length;
  return bytes;
}

function time(fn: () => number): { ms: number; bytes: number } {
  fn();
  fn();
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    bytes = fn();
    ms.push(performance.now() - t);
  }
  return { ms: median(ms), bytes };
}

const w = time(writerCore);
const p = time(plain);
const rate = (ms: number) => Math.round((BATCH / ms) * 1000);
console.log(
  `audit writer core, batch of ${BATCH} events (${(w.bytes / 1e6).toFixed(2)} MB written), median of ${RUNS}`,
);
console.log(
  `  writer core (parse+validate+redact+chain+serialize+sha256): ${rate(w.ms).toLocaleString('en')} events/s (${w.ms.toFixed(1)} ms/batch)`,
);
console.log(
  `  plain JSON.stringify of the same events:                    ${rate(p.ms).toLocaleString('en')} events/s (${p.ms.toFixed(1)} ms/batch)`,
);
console.log(
  `  ratio writer / JSON.stringify: ${(p.ms / w.ms).toFixed(3)} (writer is ${(w.ms / p.ms).toFixed(1)}x slower)`,
);

// --- event generator (kept in this file: benchmarks are standalone scripts)

function benchEvents(n: number, sessions: number): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (let i = 0; i < n; i++) {
    const sessionId = i % 20 === 0 ? null : `sess-${i % sessions}`;
    const user = { id: `user${i % 50}@example.com`, type: 'human' as const };
    switch (i % 4) {
      case 0:
        out.push(
          newEvent('intent', {
            source: 'aidops.agent',
            sessionId,
            user,
            policyVersion: 'p-42',
            detail: { type: 'prompt', text: `Open the quarterly report and summarise section ${i} for the board.` },
          }),
        );
        break;
      case 1:
        out.push(
          newEvent('action', {
            source: 'aidops.agent',
            sessionId,
            user,
            detail: {
              type: 'fs_write',
              path: `/home/agent/work/file-${i}.txt`,
              bytes: 2048,
              outcome: 'success',
              content: `line ${i}: lorem ipsum dolor sit amet, consectetur adipiscing elit`,
            },
          }),
        );
        break;
      case 2:
        out.push(
          newEvent('action', {
            source: 'aidops.agent',
            sessionId,
            detail: { type: 'net_connect', host: 'api.example.com', port: 443, protocol: 'tls', outcome: 'denied' },
          }),
        );
        break;
      default:
        out.push(
          newEvent('decision', {
            source: 'aidops.policy',
            sessionId,
            detail: { engine: 'cedar', inputDigest: 'c'.repeat(64), outcome: 'deny', reasons: ['forbid-egress'] },
          }),
        );
    }
  }
  return out;
}

function ebBody(e: AuditEvent): string {
  return JSON.stringify({
    version: '0',
    id: e.eventId,
    'detail-type': AUDIT_DETAIL_TYPE,
    source: AUDIT_EVENT_SOURCE,
    account: '123456789012',
    time: e.time,
    region: 'us-east-1',
    resources: [],
    detail: e,
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
