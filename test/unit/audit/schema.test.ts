import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import fc from 'fast-check';
import {
  AUDIT_DETAIL_TYPE,
  AUDIT_EVENT_SOURCE,
  newEvent,
  parseAuditEvent,
  publishAuditEvents,
  toPutEventsEntry,
  uuidv7,
  uuidv7Time,
} from '../../../lambdas/audit/schema.ts';
import { TransientError, ValidationError } from '../../../lambdas/shared/errors.ts';
import { AUDIT_EVENT_SCHEMA_PATH, auditEventJsonSchema } from '../../../scripts/export-schemas.ts';

const base = () =>
  newEvent('action', {
    source: 'aidops.agent',
    sessionId: 's-1',
    detail: { type: 'net_connect', host: 'example.com', port: 443, protocol: 'tls', outcome: 'success' },
  });

function pathsOf(input: unknown): string[] {
  try {
    parseAuditEvent(input);
  } catch (e) {
    assert.ok(e instanceof ValidationError);
    return e.issues.map((i) => i.path);
  }
  return [];
}

describe('audit event schema', () => {
  it('newEvent fills id, time and version and the result parses', () => {
    const e = base();
    assert.equal(e.schemaVersion, 1);
    assert.match(e.eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    assert.equal(parseAuditEvent(JSON.parse(JSON.stringify(e))).eventId, e.eventId);
    assert.equal(e.sandboxId, null);
  });

  it('accepts one event of every kind', () => {
    const kinds = [
      newEvent('intent', { source: 's', detail: { type: 'plugin_invocation', plugin: 'p', operation: 'o' } }),
      newEvent('health', { source: 's', detail: { type: 'lifecycle', state: 'running' } }),
      newEvent('health', { source: 's', detail: { type: 'metrics', latencyMs: 3, cpuPercent: 150, memoryMb: 512 } }),
      newEvent('security', {
        source: 's',
        detail: { type: 'attestation_result', verdict: 'fail', reason: 'PCR mismatch' },
      }),
      newEvent('security', {
        source: 's',
        detail: { type: 'escape_attempt', technique: 'ptrace', severity: 'high', blocked: true },
      }),
      newEvent('decision', {
        source: 's',
        detail: { engine: 'opa', inputDigest: 'b'.repeat(64), outcome: 'deny', reasons: ['no'] },
      }),
      newEvent('workflow', {
        source: 's',
        detail: { stateMachine: 'remediate', executionId: 'x', step: 'Snapshot', status: 'succeeded' },
      }),
    ];
    assert.equal(kinds.length, 7);
  });

  it('rejects an unknown kind with the path "kind"', () => {
    assert.deepEqual(pathsOf({ ...base(), kind: 'telemetry' }), ['kind']);
  });

  it('rejects bad and unknown fields with their paths', () => {
    const e = base() as unknown as Record<string, Record<string, unknown>>;
    assert.deepEqual(pathsOf({ ...e, detail: { ...e.detail, port: 70_000 } }), ['detail.port']);
    assert.deepEqual(pathsOf({ ...e, detail: { ...e.detail, extra: 1 } }), ['detail']);
    assert.deepEqual(pathsOf({ ...e, detail: { ...e.detail, type: 'teleport' } }), ['detail.type']);
    assert.deepEqual(pathsOf({ ...e, sessionId: '../etc' }), ['sessionId']);
    assert.deepEqual(pathsOf({ ...e, eventId: crypto.randomUUID() }), ['eventId']);
    assert.deepEqual(pathsOf({ ...e, time: '2025-01-01 10:00' }), ['time']);
  });

  it('UUIDv7 ids are unique and strictly increasing in one process, and carry their time', () => {
    const t = Date.now();
    let prev = '';
    for (let i = 0; i < 10_000; i++) {
      const id = uuidv7(t);
      assert.ok(id > prev);
      prev = id;
    }
    assert.ok(Math.abs(uuidv7Time(uuidv7()) - Date.now()) < 1000);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 47 }), (ms) => /^[0-9a-f-]{36}$/.test(uuidv7(ms))),
      { numRuns: 2000 },
    );
  });

  it('EventBridge entries carry the rule-matching source and detail-type', () => {
    const entry = toPutEventsEntry(base(), 'bus');
    assert.equal(entry.Source, AUDIT_EVENT_SOURCE);
    assert.equal(entry.DetailType, AUDIT_DETAIL_TYPE);
    assert.equal(JSON.parse(entry.Detail!).kind, 'action');
  });

  it('publishAuditEvents sends batches of 10 and surfaces FailedEntryCount as TransientError', async () => {
    const sizes: number[] = [];
    const client = {
      send: async (cmd: { input: { Entries: unknown[] } }) => {
        sizes.push(cmd.input.Entries.length);
        const fail = sizes.length === 2;
        return {
          FailedEntryCount: fail ? 1 : 0,
          Entries: cmd.input.Entries.map((_, i) =>
            fail && i === 3 ? { ErrorCode: 'ThrottlingException' } : { EventId: 'x' },
          ),
        };
      },
    } as unknown as EventBridgeClient;
    const events = Array.from({ length: 23 }, base);
    await assert.rejects(publishAuditEvents(client, 'bus', events), (e: unknown) => {
      assert.ok(e instanceof TransientError);
      assert.deepEqual(e.details.failed, [
        { eventId: events[13]!.eventId, code: 'ThrottlingException', message: undefined },
      ]);
      return true;
    });
    assert.deepEqual(sizes, [10, 10, 3]);
  });

  it('the committed JSON Schema is current (run node scripts/export-schemas.ts)', () => {
    assert.equal(readFileSync(AUDIT_EVENT_SCHEMA_PATH, 'utf8'), auditEventJsonSchema());
  });
});
