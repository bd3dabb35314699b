/**
 * What the automatic path reads from an EventBridge event: the project's own
 * PolicyViolation / AttestationFailed / SuspiciousWrite / SuspiciousEgress, a GuardDuty finding on
 * a session instance, a Security Hub finding on a session resource from a
 * trusted product; and the tombstone execution name that makes one event one
 * execution. A finding's copy of the resource tags only nominates the resource:
 * the trigger reads the real tags in EC2 before it acts (see start.ts).
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { SessionId } from '../../shared/ids.ts';
import { Tags } from '../../shared/tags.ts';

export const OWN_DETAIL_TYPES = [
  'PolicyViolation',
  'AttestationFailed',
  'SuspiciousWrite',
  'SuspiciousEgress',
] as const;
/** Acted on by the session's tier (tombstone or alert, see EgressActions); the others always tombstone. */
export const BY_TIER_DETAIL_TYPES: readonly string[] = ['SuspiciousEgress'];
export const OWN_SOURCE_PREFIX = 'aidops.' as const;

/** An EventBridge event as a rule delivers it to a Lambda target. */
export const EventBridgeEvent = z.looseObject({
  id: z.string().min(1),
  source: z.string().min(1),
  'detail-type': z.string().min(1),
  time: z.string().optional(),
  detail: z.looseObject({}),
});
export type EventBridgeEvent = z.output<typeof EventBridgeEvent>;

export interface DerivedTrigger {
  readonly kind: 'own' | 'guardduty' | 'securityhub';
  /** The own event's detail type (null for findings). */
  readonly detailType: string | null;
  /** For findings: the session the finding's copy of the tags names (checked against EC2). */
  readonly sessionId: string;
  readonly instanceId: string | null;
  /** EC2 resources (instance, volume, interface ids) a finding is about; their real tags decide. */
  readonly resourceIds: readonly string[];
  /** Id that identifies the occurrence: the event id, or the finding id (updates of a finding share it). */
  readonly eventId: string;
  readonly reason: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** An EC2 resource id in a Security Hub resource id (an ARN for EC2 resources). */
const EC2_RESOURCE = /(?:^|[:/])((?:i|vol|eni)-[0-9a-f]{8,17})$/;

/**
 * Reads who and why from the three kinds of events; null when the event names no
 * session. Security Hub findings count only from `trustedProducts` (product ARNs):
 * anyone allowed `BatchImportFindings` can import a finding under the account's own product.
 */
export function deriveTrigger(e: EventBridgeEvent, trustedProducts: readonly string[] = []): DerivedTrigger | null {
  const d: Obj = e.detail;
  if (e.source === 'aws.guardduty') {
    const inst = obj(obj(d.resource).instanceDetails);
    const tag = arr(inst.tags)
      .map(obj)
      .find((t) => t.key === Tags.SessionId);
    const sessionId = str(tag?.value);
    if (!sessionId || !SessionId.safeParse(sessionId).success) return null;
    const instanceId = str(inst.instanceId) ?? null;
    return {
      kind: 'guardduty',
      detailType: null,
      sessionId,
      instanceId,
      resourceIds: instanceId ? [instanceId] : [],
      eventId: `guardduty:${str(d.id) ?? e.id}`,
      reason:
        `GuardDuty ${str(d.type) ?? 'finding'} (severity ${String(d.severity ?? '?')}): ${str(d.title) ?? ''}`.slice(
          0,
          512,
        ),
    };
  }
  if (e.source === 'aws.securityhub') {
    for (const f of arr(d.findings).map(obj)) {
      if (!trustedProducts.includes(str(f.ProductArn) ?? '')) continue;
      for (const r of arr(f.Resources).map(obj)) {
        const sessionId = str(obj(r.Tags)[Tags.SessionId]);
        if (!sessionId || !SessionId.safeParse(sessionId).success) continue;
        const resourceId = EC2_RESOURCE.exec(String(r.Id ?? ''))?.[1];
        if (!resourceId) continue;
        return {
          kind: 'securityhub',
          detailType: null,
          sessionId,
          instanceId: resourceId.startsWith('i-') ? resourceId : null,
          resourceIds: [resourceId],
          eventId: `securityhub:${str(f.Id) ?? e.id}`,
          reason: `Security Hub ${str(obj(f.Severity).Label) ?? ''} finding: ${str(f.Title) ?? ''}`.slice(0, 512),
        };
      }
    }
    return null;
  }
  if (e.source.startsWith(OWN_SOURCE_PREFIX) && (OWN_DETAIL_TYPES as readonly string[]).includes(e['detail-type'])) {
    const sessionId = str(d.sessionId);
    if (!sessionId || !SessionId.safeParse(sessionId).success) return null;
    const why = Array.isArray(d.reasons) ? d.reasons.join('; ') : (str(d.reason) ?? str(d.description) ?? '');
    const what = [str(d.action), str(d.resource)].filter(Boolean).join(' ');
    // A burst keeps its incident id on every delivery (PutEvents retried by the watcher included): one execution.
    const incidentId = BY_TIER_DETAIL_TYPES.includes(e['detail-type']) ? str(d.incidentId) : undefined;
    return {
      kind: 'own',
      detailType: e['detail-type'],
      sessionId,
      instanceId: null,
      resourceIds: [],
      eventId: incidentId ? `${e['detail-type']}:${incidentId}` : e.id,
      reason: `${e['detail-type']} from ${e.source}${what ? `: ${what}` : ''}${why ? ` (${why})` : ''}`.slice(0, 512),
    };
  }
  return null;
}

/**
 * Execution name: session + a hash of the triggering event id (names are ≤ 80
 * characters of [A-Za-z0-9_-], and event ids are not). Dry runs get their own
 * prefix so switching the path back to live acts on the next delivery.
 */
export function tombstoneExecutionName(sessionId: string, eventId: string, dryRun: boolean): string {
  const prefix = dryRun ? 'dry-' : '';
  const hash = createHash('sha256').update(eventId).digest('hex').slice(0, 16);
  return `${prefix}${sessionId.slice(0, 80 - prefix.length - 17)}-${hash}`;
}
