/**
 * Every handler in the synthesized app, fed hostile input: it must answer with one of
 * the project's typed errors (a literal `name` a workflow can Catch), never crash with
 * a TypeError or the like, and never succeed on garbage.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useRuntime } from '../helpers/runtime.ts';

const deep = (n: number): unknown => (n === 0 ? {} : { a: deep(n - 1) });
const HOSTILE: [string, unknown][] = [
  ['null', null],
  ['a number', 42],
  ['a string', 'DROP TABLE sessions;--'],
  ['an array', [1, 2, 3]],
  ['an empty object', {}],
  ['prototype pollution', JSON.parse('{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}')],
  ['deep nesting', deep(200)],
  ['a huge string field', { sessionId: 'x'.repeat(1_000_000), reason: 'y'.repeat(1_000_000) }],
  ['wrong types everywhere', { sessionId: 12, instanceId: [], reason: {}, requests: 'all', Records: 7 }],
  [
    'evidence with hostile bytes',
    { op: 'evidence', sessionId: 'ses-x', evidenceType: 'sev-snp', evidence: '<?xml?>', nonce: 'zz', publicKey: '@@' },
  ],
];

/** Inputs a handler may legitimately accept, with why (every other acceptance is a finding). */
const ACCEPTS: Record<string, { cases: 'all' | string[]; why: string }> = {
  AuditIngestDigester: { cases: 'all', why: 'scheduled job: reads no input, digests every chain that grew' },
  RemediationKnownGood: { cases: 'all', why: 'scheduled job: reads no input, snapshots every active session' },
  RemediationTombstoneClaimSlot: { cases: ['an empty object'], why: '{} is the first attempt (attempt defaults to 0)' },
  SessionsSweeper: {
    cases: [
      'an empty object',
      'prototype pollution',
      'deep nesting',
      'a huge string field',
      'wrong types everywhere',
      'evidence with hostile bytes',
    ],
    why: 'scheduled job: reads only an optional dryRun from the scheduled event, whose other keys vary',
  },
};
/** An EventBridge target answers what it does not understand with an explicit no-op, so EventBridge does not retry it. */
const explicitNoOp = (out: Record<string, unknown> | null) =>
  out?.outcome === 'ignored' && typeof out.reason === 'string';
const accepted = (fn: string, what: string) => {
  const a = Object.entries(ACCEPTS).find(([prefix]) => fn.startsWith(prefix))?.[1];
  return a !== undefined && (a.cases === 'all' || a.cases.includes(what));
};

describe('every handler rejects hostile input with a typed error', () => {
  const rt = useRuntime();

  it('no handler crashes untyped or accepts garbage', async () => {
    const fns = [...rt().provisioned.functions.keys()];
    assert.ok(fns.length >= 20, `found ${fns.length} functions`);
    const problems: string[] = [];
    for (const fn of fns) {
      for (const [what, payload] of HOSTILE) {
        try {
          const out = (await rt().invoke(fn, payload as never)) as Record<string, unknown> | null;
          // A few entry points answer garbage without throwing, by design: an SQS batch handler reports
          // every record as failed, an API Gateway door answers 4xx. Anything else is accepting garbage.
          const failedBatch = Array.isArray(out?.batchItemFailures);
          const httpRefusal = typeof out?.statusCode === 'number' && (out.statusCode as number) >= 400;
          if (!failedBatch && !httpRefusal && !explicitNoOp(out) && !accepted(fn, what))
            problems.push(`${fn} / ${what}: accepted → ${JSON.stringify(out).slice(0, 160)}`);
        } catch (e) {
          const err = e as Error & { details?: unknown };
          const typed =
            /^[A-Z][A-Za-z]+(Error|Exception)$/.test(err.name) &&
            !['TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'Error'].includes(err.name);
          if (!typed) problems.push(`${fn} / ${what}: untyped ${err.name}: ${err.message.slice(0, 160)}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });
});
