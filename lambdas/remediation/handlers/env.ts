/** Environment every remediation handler reads (names set by lib/constructs/remediation.ts). */
import { ValidationError } from '../../shared/errors.ts';
import type { EvidenceConfig } from '../evidence.ts';
import type { IsolationConfig } from '../tombstone.ts';

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new ValidationError(`environment variable ${name} is not set (see lib/constructs/remediation.ts)`);
  return v;
}

/** Bus for audit events; unset publishes nothing (the construct always sets it). */
export const busName = (): string | undefined => process.env.AUDIT_BUS_NAME || undefined;
export const topicArn = (): string | undefined => process.env.NOTIFY_TOPIC_ARN || undefined;

export function isolationConfig(): IsolationConfig {
  return { quarantineGroupId: required('QUARANTINE_GROUP_ID'), transitionGroupId: required('TRANSITION_GROUP_ID') };
}

export function evidenceConfig(): EvidenceConfig {
  return {
    bucket: required('EVIDENCE_BUCKET'),
    kmsKeyId: required('EVIDENCE_KMS_KEY_ID'),
    retentionDays: Number(process.env.EVIDENCE_RETENTION_DAYS ?? '365'),
    prefix: process.env.EVIDENCE_PREFIX ?? 'evidence/',
    auditPrefix: process.env.AUDIT_PREFIX ?? 'audit/',
  };
}

export const incidentTable = (): string => required('INCIDENT_TABLE');
