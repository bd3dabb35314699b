import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler, metric } from '../../shared/middleware.ts';
import { AuditCheckInput, checkAuditTrail } from '../tombstone/audit-objects.ts';
import { EvidenceInput, writeEvidence } from '../tombstone/evidence.ts';

const ec2 = new EC2Client(awsClientConfig());
const s3 = new S3Client(awsClientConfig());
const sfn = new SFNClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());

export const handler = makeHandler({
  inputName: 'evidence input',
  input: EvidenceInput,
  core: (input) =>
    writeEvidence(
      {
        ec2,
        s3,
        sfn,
        eventBridge,
        busName: requireEnv('AUDIT_BUS_NAME'),
        metric,
        config: {
          bucket: requireEnv('EVIDENCE_BUCKET'),
          kmsKeyId: requireEnv('EVIDENCE_KMS_KEY_ID'),
          retentionDays: numberEnv('EVIDENCE_RETENTION_DAYS', 365),
          prefix: optionalEnv('EVIDENCE_PREFIX') ?? 'evidence/',
          auditPrefix: optionalEnv('AUDIT_PREFIX') ?? 'audit/',
        },
      },
      input,
    ),
});

/** The tombstone's bounded wait for the audit pipeline (retried by the machine while behind). */
export const auditCheck = makeHandler({
  inputName: 'audit check input',
  input: AuditCheckInput,
  core: (input) =>
    checkAuditTrail(
      { s3, bucket: requireEnv('EVIDENCE_BUCKET'), auditPrefix: optionalEnv('AUDIT_PREFIX') ?? 'audit/' },
      input,
    ),
});
