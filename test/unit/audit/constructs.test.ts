import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AuditBucket } from '../../../lib/constructs/audit-bucket.ts';
import { AuditIngest } from '../../../lib/constructs/audit-ingest.ts';

function synth(retentionDays?: number) {
  // Empty bundling-stacks: NodejsFunction skips esbuild, so this stays fast.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'S', { env: { account: '123456789012', region: 'us-east-1' } });
  const audit = new AuditBucket(stack, 'Audit', { retentionDays });
  audit.pinLogicalId('AuditBucketPinned');
  const ingest = new AuditIngest(stack, 'Ingest', { auditBucket: audit });
  return { template: Template.fromStack(stack), audit, ingest, stack };
}

describe('AuditBucket', () => {
  const { template } = synth();

  it('keeps the pinned logical id', () => {
    const buckets = template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } });
    assert.deepEqual(Object.keys(buckets), ['AuditBucketPinned']);
  });

  it('Object Lock COMPLIANCE 365 days by default, versioned, SSE-KMS customer key, logs elsewhere, retained', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        ObjectLockEnabled: true,
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 365 } },
        },
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            Match.objectLike({
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AuditKey'), 'Arn'] },
              },
            }),
          ],
        },
        LoggingConfiguration: {
          DestinationBucketName: { Ref: Match.stringLikeRegexp('^AuditAccessLogs') },
          LogFilePrefix: 'audit-bucket/',
        },
      }),
    });
  });

  it('denies non-TLS access', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: 'AuditBucketPinned' },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('retention comes from props; a bad value fails synth', () => {
    synth(2555).template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 2555 } },
      },
    });
    assert.throws(() => synth(0), /retentionDays/);
  });
});

describe('AuditIngest', () => {
  const { template } = synth();

  it('rule on source aidops / detail-type AuditEvent targets the queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aidops'], 'detail-type': ['AuditEvent'] },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IngestQueue'), 'Arn'] } })],
    });
  });

  it('queue: SSE, DLQ with maxReceiveCount, TLS only', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 360,
      RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
    });
    const policies = template.findResources('AWS::SQS::QueuePolicy');
    const denies = Object.values(policies).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as { Effect: string; Condition?: unknown }[]).filter(
        (s) => s.Effect === 'Deny' && JSON.stringify(s.Condition).includes('aws:SecureTransport'),
      ),
    );
    assert.ok(denies.length >= 2, 'both queues deny non-TLS');
  });

  it('writer consumes with ReportBatchItemFailures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 100,
    });
  });

  it('signing key is ECC_NIST_P384 SIGN_VERIFY; digester may Sign and GetPublicKey; hourly schedule', () => {
    template.hasResourceProperties('AWS::KMS::Key', { KeySpec: 'ECC_NIST_P384', KeyUsage: 'SIGN_VERIFY' });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    assert.match(policies, /kms:Sign/);
    assert.match(policies, /kms:GetPublicKey/);
    assert.match(policies, /s3:PutObjectRetention/);
  });

  it('writer and digester get their environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          AUDIT_BUCKET: { Ref: 'AuditBucketPinned' },
          AUDIT_LOCK_MODE: 'COMPLIANCE',
          AUDIT_RETENTION_DAYS: '365',
          AUDIT_HMAC_SECRET_ID: Match.anyValue(),
          AUDIT_PRIVACY_CONFIG: Match.stringLikeRegexp('detail.text'),
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ AUDIT_SIGNING_KEY_ID: Match.anyValue() }) },
    });
  });

  it('a bad privacy config fails synth', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'S2');
    const audit = new AuditBucket(stack, 'A');
    assert.throws(
      () => new AuditIngest(stack, 'I', { auditBucket: audit, privacy: { fields: [{ path: 'eventId' }] } }),
      /identifying envelope fields/,
    );
  });
});
