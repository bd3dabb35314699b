/**
 * The incident report renderer: its sections and figures from a packet, the time
 * to isolation against the objective, and every outside value escaped (hostile
 * session ids, reasons, paths, ticket urls never become markup).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chainVerdictOf, eventsFromChainObjects } from '../../../lambdas/remediation/report/events.ts';
import { type EvidencePacket, esc, renderReport } from '../../../lambdas/remediation/report/render.ts';

const EVIL = `"><script>alert(1)</script><img src=x onerror=alert(2)>&'`;

function packet(over: Record<string, unknown> = {}): EvidencePacket {
  return {
    format: 'aidops.evidence-packet/1',
    complete: true,
    incomplete: [],
    incidentId: 'inc-1',
    execution: 'arn:aws:states:eu-west-1:123456789012:execution:aidops-tombstone:tomb-1',
    createdAt: '2026-11-30T01:00:20.000Z',
    sessionId: 'ses-1',
    instanceId: 'i-0123456789abcdef0',
    tier: null,
    request: { reason: 'wrote to /finance', source: 'evt-1', requestedBy: 'alice@example.com' },
    instance: { before: {}, after: null },
    securityGroups: { original: {}, before: {}, after: { 'eni-1': ['sg-quarantine'] } },
    isolation: {
      startedAt: '2026-11-30T01:00:02.000Z',
      quarantineAppliedAt: '2026-11-30T01:00:04.500Z',
      finishedAt: '2026-11-30T01:00:05.000Z',
    },
    credentials: {},
    session: null,
    freeze: { mode: 'stop', commandId: null, requestedAt: '2026-11-30T01:00:08.000Z' },
    snapshots: [
      {
        snapshotId: 'snap-0aaa',
        volumeId: 'vol-1',
        state: 'completed',
        startTime: '2026-11-30T01:00:10.000Z',
        volumeSize: 8,
        encrypted: true,
        url: 'https://console.aws.amazon.com/ec2/home#SnapshotDetails:snapshotId=snap-0aaa',
      },
    ],
    audit: {
      bucket: 'b',
      prefix: 'audit/',
      complete: true,
      incidentAt: null,
      newestObjectAt: null,
      objects: [],
      truncated: false,
    },
    timeline: [{ time: '2026-11-30T01:00:00.000Z', type: 'ExecutionStarted' }],
    steps: [
      { step: 'validated', time: '2026-11-30T01:00:01.000Z' },
      { step: 'quarantine group applied', time: '2026-11-30T01:00:04.500Z' },
      { step: 'credentials revoked (tokens issued before)', time: '2026-11-30T01:00:06.000Z' },
      { step: 'freeze requested (stop)', time: '2026-11-30T01:00:08.000Z' },
      { step: 'evidence packet written', time: '2026-11-30T01:00:20.000Z' },
    ],
    ...over,
  } as unknown as EvidencePacket;
}

describe('incident report renderer', () => {
  it('has the timeline, the time to isolation against the objective, snapshots, chain verdict and next steps', () => {
    const html = renderReport({
      packet: packet(),
      events: [{ time: '2026-11-30T00:59:59.000Z', kind: 'decision', summary: 'agent: deny path=/finance' }],
      chain: { intact: true, objects: 2, events: 5, digestedThroughSeq: 2, findings: [] },
      ticket: { id: 'oi-123', url: 'https://console.aws.amazon.com/systems-manager/opsitems/oi-123' },
    });
    assert.match(html, /^<!doctype html>/);
    assert.equal((html.match(/class="timeline-row"/g) ?? []).length, 6);
    assert.match(html, /data-ms="4500">4\.5 s</);
    assert.match(html, /id="tti-verdict">met</);
    assert.match(html, /snap-0aaa/);
    assert.match(html, /id="chain-verdict" class="ok"><strong>Intact/);
    assert.match(html, /oi-123/);
    assert.match(html, /docs\/remediation\.md/);
    assert.doesNotMatch(html, /<script|<link|src=|@import|url\(/i, 'self-contained, no scripts');
  });

  it('a time to isolation over the objective is missed (configurable objective)', () => {
    const html = renderReport({ packet: packet(), events: [], chain: null, ticket: null, objectiveMs: 2000 });
    assert.match(html, /id="tti-verdict">missed</);
    assert.match(html, /<strong>Not checked<\/strong>/);
  });

  it('escapes every outside value: session ids, reasons, paths, events, findings, ticket urls', () => {
    const html = renderReport({
      packet: packet({
        sessionId: EVIL,
        incidentId: EVIL,
        request: { reason: EVIL, source: EVIL, requestedBy: EVIL },
        incomplete: [{ step: EVIL, error: EVIL, cause: EVIL }],
        complete: false,
        snapshots: [{ snapshotId: EVIL, volumeId: EVIL, state: EVIL, volumeSize: 1, encrypted: false, url: EVIL }],
      }),
      events: [{ time: EVIL, kind: EVIL, summary: `path=${EVIL}` }],
      chain: { intact: false, objects: 1, events: 1, digestedThroughSeq: 0, findings: [{ code: EVIL, message: EVIL }] },
      ticket: { id: EVIL, url: 'javascript:alert(3)' },
      tier: EVIL,
    });
    assert.doesNotMatch(html, /<script|<img|href="(?!https?:)/i, 'no markup from outside values, no non-http link');
    assert.ok(html.includes(esc(EVIL)));
    assert.equal(esc(`<&>"'`), '&lt;&amp;&gt;&quot;&#39;');
  });

  it("links the playbook of the session's tier (the packet's, or named), else the remediation page", () => {
    const html = renderReport({ packet: packet(), events: [], chain: null, ticket: null, tier: 'high' });
    assert.match(html, /docs\/playbooks\/high\.md/);
    const fromPacket = renderReport({ packet: packet({ tier: 'low' }), events: [], chain: null, ticket: null });
    assert.match(fromPacket, /docs\/playbooks\/low\.md/);
    const unknown = renderReport({ packet: packet({ tier: 'x/../../etc' }), events: [], chain: null, ticket: null });
    assert.match(unknown, /docs\/remediation\.md/);
  });
});

describe('report events from chain objects', () => {
  it('keeps the session events up to the incident, drops workflow events and malformed lines, oldest first', () => {
    const header = JSON.stringify({ format: 'aidops.audit.chain-object/1' });
    const ev = (time: string, kind: string, detail: unknown) => JSON.stringify({ time, kind, source: 'agent', detail });
    const bodies = [
      `${header}\n${ev('2026-11-30T01:00:00Z', 'decision', { type: 'policy', action: 'fs_write', decision: 'deny' })}\nnot json\n`,
      `${header}\n${ev('2026-11-30T00:59:00Z', 'action', { type: 'fs_write', path: '/finance/q3.xlsx' })}\n${ev('2026-11-30T01:00:01Z', 'workflow', { step: 'x' })}\n${ev('2026-11-30T02:00:00Z', 'action', { type: 'late' })}\n`,
    ];
    const events = eventsFromChainObjects(bodies, '2026-11-30T01:00:30Z');
    assert.deepEqual(
      events.map((e) => [e.kind, e.summary]),
      [
        ['action', 'agent: fs_write path=/finance/q3.xlsx'],
        ['decision', 'agent: policy action=fs_write decision=deny'],
      ],
    );
  });

  it('the verdict of a session missing from the verifier report is not intact', () => {
    const v = chainVerdictOf({ intact: true, chains: [], findings: [] }, 'ses-x');
    assert.equal(v.intact, false);
    assert.equal(v.findings[0]?.code, 'CHAIN_MISSING');
  });
});
