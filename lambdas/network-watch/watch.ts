/**
 * Rejected flow-log records from session interfaces → `SuspiciousEgress`.
 *
 * A subscription delivery is decoded strictly (./flow-log.ts); REJECT records
 * whose interface belongs to a session (./interfaces.ts) and whose source is
 * that interface's own address (egress, not someone knocking on the session)
 * are grouped by session, destination, port and protocol. Each group is one
 * burst: it is claimed once (./bursts.ts), then raised as a `security` audit
 * event and as the `SuspiciousEgress` event the remediation rules act on, in
 * one PutEvents call. What the session's tier makes of it is the trigger's
 * business (it reads the tier from the session table).
 */
import { createHash } from 'node:crypto';
import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { newEvent, toPutEventsEntry } from '../audit/schema.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { TransientError } from '../shared/errors.ts';
import type { BurstClaims } from './bursts.ts';
import { decodeSubscription, type FlowRecord, flowRecordsOf, protocolName } from './flow-log.ts';
import type { InterfaceOwner, InterfaceOwners } from './interfaces.ts';

export const NETWORK_SOURCE = 'aidops.network' as const;
export const SUSPICIOUS_EGRESS = 'SuspiciousEgress' as const;

export interface WatchDeps {
  readonly owners: Pick<InterfaceOwners, 'resolve'>;
  readonly claims: BurstClaims;
  readonly eventBridge: EventBridgeClient;
  readonly busName: string;
  /** How long a burst stays one incident. @default 900 */
  readonly windowSeconds?: number;
}

export interface Burst {
  readonly sessionId: string;
  readonly instanceId: string | null;
  readonly interfaceId: string;
  readonly tier: string | null;
  readonly destination: string;
  readonly port: number;
  readonly protocol: string;
  readonly count: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
}

export interface WatchResult {
  readonly records: number;
  readonly malformed: number;
  readonly nodata: number;
  readonly skipdata: number;
  readonly rejected: number;
  /** REJECT records that were a session's own egress. */
  readonly egress: number;
  /** Bursts raised now, with their incident ids. */
  readonly raised: (Burst & { incidentId: string })[];
  /** Bursts an earlier delivery already raised. */
  readonly continuing: { sessionId: string; destination: string; port: number; incidentId: string }[];
}

const iso = (unixSeconds: number) => new Date(unixSeconds * 1000).toISOString();

/** Groups a session's rejected egress by destination, port and protocol. */
export function bursts(records: readonly FlowRecord[], owners: ReadonlyMap<string, InterfaceOwner | null>): Burst[] {
  const groups = new Map<
    string,
    { owner: InterfaceOwner; r: FlowRecord; count: number; first: number; last: number }
  >();
  for (const r of records) {
    if (r.action !== 'REJECT') continue;
    const owner = owners.get(r.interfaceId);
    if (!owner?.addresses.has(r.srcaddr)) continue;
    const key = `${owner.sessionId}#${r.dstaddr}#${r.dstport}#${r.protocol}`;
    const g = groups.get(key);
    if (g) {
      g.count += 1;
      g.first = Math.min(g.first, r.start);
      g.last = Math.max(g.last, r.end);
    } else groups.set(key, { owner, r, count: 1, first: r.start, last: r.end });
  }
  return [...groups.values()].map(({ owner, r, count, first, last }) => ({
    sessionId: owner.sessionId,
    instanceId: owner.instanceId,
    interfaceId: r.interfaceId,
    tier: owner.tier,
    destination: r.dstaddr,
    port: r.dstport,
    protocol: protocolName(r.protocol),
    count,
    firstSeen: iso(first),
    lastSeen: iso(last),
  }));
}

const burstKey = (b: Burst) => `${b.sessionId}#${b.destination}#${b.port}#${b.protocol}`;

/** The two entries one burst raises: the audit record and the remediation rules' event. */
export function burstEntries(b: Burst, incidentId: string, busName: string): PutEventsRequestEntry[] {
  const audit = newEvent('security', {
    source: NETWORK_SOURCE,
    sessionId: b.sessionId,
    detail: {
      type: 'suspicious_egress',
      destination: b.destination,
      port: b.port,
      protocol: b.protocol,
      count: b.count,
      firstSeen: b.firstSeen,
      lastSeen: b.lastSeen,
      interfaceId: b.interfaceId,
      ...(b.tier ? { tier: b.tier } : {}),
      incidentId,
    },
  });
  return [
    toPutEventsEntry(audit, busName),
    {
      EventBusName: busName,
      Source: NETWORK_SOURCE,
      DetailType: SUSPICIOUS_EGRESS,
      Detail: JSON.stringify({
        ...b,
        incidentId,
        reason: `${b.count} rejected ${b.protocol} connection attempt(s) to ${b.destination} port ${b.port}`,
      }),
    },
  ];
}

export async function watchFlowLogs(deps: WatchDeps, event: unknown): Promise<WatchResult> {
  const parsed = flowRecordsOf(decodeSubscription(event));
  const rejected = parsed.records.filter((r) => r.action === 'REJECT');
  const owners = rejected.length ? await deps.owners.resolve(rejected.map((r) => r.interfaceId)) : new Map();
  const found = bursts(rejected, owners);
  const raised: WatchResult['raised'][number][] = [];
  const continuing: WatchResult['continuing'][number][] = [];
  for (const b of found) {
    const key = burstKey(b);
    const fresh = `egress-${createHash('sha256').update(`${key}#${b.firstSeen}`).digest('hex').slice(0, 24)}`;
    const c = await deps.claims.claim(key, fresh, deps.windowSeconds ?? 900);
    if (!c.claimed) {
      continuing.push({ sessionId: b.sessionId, destination: b.destination, port: b.port, incidentId: c.incidentId });
      continue;
    }
    try {
      const out = await awsCall('events:PutEvents', () =>
        deps.eventBridge.send(new PutEventsCommand({ Entries: burstEntries(b, fresh, deps.busName) })),
      );
      if ((out.FailedEntryCount ?? 0) > 0)
        throw new TransientError(`PutEvents failed for ${out.FailedEntryCount} entries of ${fresh}`);
    } catch (e) {
      // Nothing (or not all) was raised: give the burst back so the redelivery raises it.
      await deps.claims.release(key, fresh).catch(() => undefined);
      throw e;
    }
    raised.push({ ...b, incidentId: fresh });
  }
  return {
    records: parsed.records.length,
    malformed: parsed.malformed,
    nodata: parsed.nodata,
    skipdata: parsed.skipdata,
    rejected: rejected.length,
    egress: found.reduce((n, b) => n + b.count, 0),
    raised,
    continuing,
  };
}
