/**
 * The audit-integrity event: a `security` / `integrity_failure` audit event the
 * writer (a squatted chain key) and the digester (a chain it refused to sign) put
 * on the bus, beside their metric and alarm. It lands in the chain it is about,
 * so the trail itself records that the trail was attacked.
 */
import { type AuditEvent, CONTROL_PLANE_CHAIN, newEvent } from './schema.ts';

/** The metric both the writer and the digester count integrity failures in (the construct alarms on it). */
export const INTEGRITY_METRIC = 'AuditIntegrityFailures';

/** What failed: a chain key held an object the writer did not write; a digest was refused. */
export type IntegrityComponent = 'audit-chain-key-squatted' | 'audit-digest-refused';

const clip = (s: string) => (s.length > 0 ? s.slice(0, 1024) : '-');

export function integrityEvent(
  chain: string,
  component: IntegrityComponent,
  expected: string,
  actual: string,
  time: Date = new Date(),
): AuditEvent {
  return newEvent('security', {
    source: 'aidops.audit',
    sessionId: chain === CONTROL_PLANE_CHAIN ? null : chain,
    time,
    detail: { type: 'integrity_failure', component, expected: clip(expected), actual: clip(actual) },
  });
}
