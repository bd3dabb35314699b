import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Fn, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AuditBucket } from '../../../lib/constructs/audit-bucket.ts';
import { AuditIngest } from '../../../lib/constructs/audit-ingest.ts';

/** Every action the policies attached to the role `roleLogicalIdPrefix…` allow. */
function actionsOf(t: Template, roleLogicalIdPrefix: string): string[] {
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => p.Properties.Roles.some((r: { Ref?: string }) => r.Ref?.startsWith(roleLogicalIdPrefix)))
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .filter((s: { Effect: string }) => s.Effect === 'Allow')
    .flatMap((s: { Action: string | string[] }) => s.Action);
}

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

  it('queue: SSE with the audit key (both queues), DLQ with maxReceiveCount, TLS only', () => {
    const queues = Object.values(template.findResources('AWS::SQS::Queue')) as any[];
    assert.ok(queues.length >= 2);
    for (const q of queues) assert.ok(q.Properties.KmsMasterKeyId, 'audit events at rest under the audit key');
    template.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: Match.anyValue(),
      VisibilityTimeout: 360,
      RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
    });
    const tlsOnly = template.findResources('AWS::SQS::QueuePolicy', {
      Properties: {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      },
    });
    assert.ok(Object.keys(tlsOnly).length >= 2, 'both queues deny non-TLS');
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
    for (const a of ['kms:Sign', 'kms:GetPublicKey', 's3:PutObjectRetention']) {
      assert.ok(actionsOf(template, 'IngestDigesterRole').includes(a), `the digester is not granted ${a}`);
    }
    assert.ok(actionsOf(template, 'IngestWriterRole').includes('s3:PutObjectRetention'));
    assert.ok(!actionsOf(template, 'IngestWriterRole').includes('kms:Sign'), 'only the digester signs');
  });

  it('the default signing key lets only this digester role Sign (by ARN condition), the account no kms:*', () => {
    const key = Object.values(template.findResources('AWS::KMS::Key', { Properties: { KeySpec: 'ECC_NIST_P384' } }))[0];
    const statements = key?.Properties.KeyPolicy.Statement as {
      Effect: string;
      Action: string | string[];
      Condition?: Record<string, Record<string, unknown>>;
    }[];
    const digester = {
      'Fn::GetAtt': [
        Object.keys(template.findResources('AWS::IAM::Role')).find((id) => id.startsWith('IngestDigesterRole')),
        'Arn',
      ],
    };
    const sign = statements.filter((s) => [s.Action].flat().includes('kms:Sign'));
    assert.deepEqual(
      sign.map((s) => [s.Effect, s.Condition]),
      [
        ['Allow', { ArnEquals: { 'aws:PrincipalArn': digester } }],
        ['Deny', { ArnNotEquals: { 'aws:PrincipalArn': digester } }],
      ],
    );
    assert.ok(statements.every((s) => ![s.Action].flat().includes('kms:*')));
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

  it('grants over the bucket ARN it is given: the stateful stack exports it by name and the control plane imports it', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'S3');
    const audit = new AuditBucket(stack, 'A');
    new AuditIngest(stack, 'I', { auditBucket: audit, bucketArn: Fn.importValue('Stateful:AuditBucketArn') });
    const objects = { 'Fn::Join': ['', [{ 'Fn::ImportValue': 'Stateful:AuditBucketArn' }, '/*']] };
    for (const role of ['IWriterRole', 'IDigesterRole']) {
      Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp(`^${role}`) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Action: Match.arrayWith(['s3:PutObject', 's3:PutObjectRetention']), Resource: objects }),
          ]),
        },
      });
    }
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
