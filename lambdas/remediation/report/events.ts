/**
 * The session's audit events up to the incident, for the report: read from the
 * chain objects the packet names (header line, then one event per line), the
 * tombstone's own workflow events left out (the timeline has them), oldest first.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ChainReport } from '../../audit/verify.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import type { AuditObjectRef } from '../tombstone/audit-objects.ts';
import type { ChainVerdict, ReportEvent } from './render.ts';

/** Events shown; the newest are kept (what happened right before the incident). */
export const MAX_REPORT_EVENTS = 200;
/** Chain objects read for the report (the packet lists them all). */
const MAX_OBJECTS_READ = 100;

/** Detail fields worth a reader's eye, in this order. */
const SUMMARY_FIELDS = ['type', 'action', 'effect', 'outcome', 'decision', 'path', 'destination', 'port', 'reason'];

function summaryOf(detail: unknown): string {
  if (!detail || typeof detail !== 'object') return '';
  const d = detail as Record<string, unknown>;
  const parts = SUMMARY_FIELDS.filter((k) => ['string', 'number', 'boolean'].includes(typeof d[k])).map((k) =>
    k === 'type' ? String(d[k]) : `${k}=${String(d[k])}`,
  );
  return parts.join(' ').slice(0, 400);
}

/** Pure: the events of chain-object bodies at or before `until`, oldest first, the newest `max` kept. */
export function eventsFromChainObjects(
  bodies: readonly string[],
  until: string,
  max = MAX_REPORT_EVENTS,
): ReportEvent[] {
  const limit = Date.parse(until);
  const out: ReportEvent[] = [];
  for (const body of bodies) {
    for (const line of body.split('\n').slice(1)) {
      if (!line.trim()) continue;
      let e: { time?: unknown; kind?: unknown; source?: unknown; detail?: unknown };
      try {
        e = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof e.time !== 'string' || typeof e.kind !== 'string' || e.kind === 'workflow') continue;
      if (Date.parse(e.time) > limit) continue;
      const source = typeof e.source === 'string' ? `${e.source}: ` : '';
      out.push({ time: e.time, kind: e.kind, summary: `${source}${summaryOf(e.detail)}` });
    }
  }
  out.sort((a, b) => a.time.localeCompare(b.time));
  return out.slice(-max);
}

/** Reads the newest chain objects the packet names and returns their events up to `until`. */
export async function sessionEvents(
  s3: S3Client,
  bucket: string,
  objects: readonly AuditObjectRef[],
  until: string,
): Promise<ReportEvent[]> {
  const newest = [...objects].sort((a, b) => a.key.localeCompare(b.key)).slice(-MAX_OBJECTS_READ);
  const bodies: string[] = [];
  for (const o of newest) {
    const r = await awsCall('s3:GetObject', () =>
      s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key, VersionId: o.versionId })),
    );
    bodies.push(await r.Body!.transformToString());
  }
  return eventsFromChainObjects(bodies, until);
}

/** The verifier's report on one session's chain, as the report shows it. */
export function chainVerdictOf(
  report: { intact: boolean; chains: readonly ChainReport[]; findings: readonly { code: string; message: string }[] },
  sessionId: string,
): ChainVerdict {
  const c = report.chains.find((x) => x.chain === sessionId);
  return {
    intact: report.intact && Boolean(c),
    objects: c?.objects ?? 0,
    events: c?.events ?? 0,
    digestedThroughSeq: c?.digestedThroughSeq ?? 0,
    findings: c
      ? report.findings.map((f) => ({ code: f.code, message: f.message }))
      : [{ code: 'CHAIN_MISSING', message: `no chain for session ${sessionId}` }],
  };
}
