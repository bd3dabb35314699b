import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Attestation } from '../../../lib/constructs/attestation.ts';

function synth() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'AttestTest', { env: { account: '123456789012', region: 'us-east-1' } });
  const key = new kms.Key(stack, 'Key');
  const accessLogsBucket = new s3.Bucket(stack, 'AccessLogs');
  const a = new Attestation(stack, 'Attestation', { key, accessLogsBucket });
  // A reader of the cache, as the guests' evidence door is one.
  const reader = new iam.Role(stack, 'CacheReader', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  a.grantReadCache(reader);
  key.addToResourcePolicy(
    Attestation.recipientAttestationStatement(new iam.AccountRootPrincipal(), {
      imageSha384: 'ab'.repeat(48),
      pcrs: { 8: 'cd'.repeat(48) },
    }),
  );
  return { t: Template.fromStack(stack), a };
}

describe('Attestation construct', () => {
  const { t } = synth();

  it('nonce table: key `nonce`, TTL on expiresAt, PITR, SSE with the customer key', () => {
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'nonce', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
    });
  });

  it('deploys no verifier of its own: its only function is the AMD refresh, which can read no secret and answer no task token', () => {
    const fns = Object.keys(t.findResources('AWS::Lambda::Function'));
    assert.equal(fns.length, 1, fns.join(', '));
    assert.match(fns[0]!, /RefreshAmdCerts/);
    const actions = Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) =>
      (
        p as { Properties: { PolicyDocument: { Statement: { Action: string | string[] }[] } } }
      ).Properties.PolicyDocument.Statement.flatMap((st) => ([] as string[]).concat(st.Action)),
    );
    for (const forbidden of ['secretsmanager:GetSecretValue', 'states:SendTaskSuccess', 'states:SendTaskFailure'])
      assert.ok(!actions.includes(forbidden), `${forbidden} granted`);
  });

  it('AMD cert cache: SSE-KMS with the key, TLS only, no public access, versioned, access logs, retained', () => {
    const buckets = t.findResources('AWS::S3::Bucket', {
      Properties: { BucketEncryption: Match.anyValue(), LoggingConfiguration: Match.anyValue() },
    });
    const entries = Object.entries(buckets);
    assert.equal(entries.length, 1);
    const [id, b] = entries[0]! as [string, { Properties: Record<string, unknown>; DeletionPolicy: string }];
    assert.match(id, /AmdCertCache/);
    assert.equal(b.DeletionPolicy, 'Retain');
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] },
            },
            BucketKeyEnabled: true,
          },
        ],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: Match.stringLikeRegexp('^AccessLogs') },
        LogFilePrefix: 'amd-cert-cache/',
      },
    });
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: id },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('AMD refresh: a daily EventBridge rule targets the refresh function; env names the bucket and prefix', () => {
    const fns = t.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: Match.objectLike({ AMD_CERT_BUCKET: Match.anyValue() }) } },
    });
    const refresh = Object.entries(fns).find(([id]) => /RefreshAmdCerts/.test(id));
    assert.ok(refresh, 'the refresh function exists');
    assert.equal(Object.keys(fns).length, 1, 'the refresh function knows the cache (its readers are elsewhere)');
    t.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 day)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [refresh[0], 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 2 } }),
      ],
    });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ AMD_CERT_PREFIX: 'amd/' }) },
    });
  });

  it('AMD cache IAM: a reader (grantReadCache) reads amd/* and writes nothing; the refresh writes amd/chains/* only', () => {
    type Statement = { Action: string | string[]; Resource: unknown };
    const statementsOf = (role: RegExp): Statement[] =>
      Object.entries(t.findResources('AWS::IAM::Policy'))
        .filter(([id]) => role.test(id))
        .flatMap(
          ([, p]) =>
            (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
        );
    /** The object-key patterns (`/amd/…`) granted for `action` on the cache bucket. */
    const cachePrefixes = (statements: Statement[], action: string) =>
      statements
        .filter((s) => ([] as string[]).concat(s.Action).includes(action))
        .flatMap((s) => ([] as unknown[]).concat(s.Resource))
        .flatMap((r) => {
          const parts = (r as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join']?.[1];
          const [bucket, key] = parts ?? [];
          const onCache = /AmdCertCache/.test((bucket as { 'Fn::GetAtt'?: string[] })?.['Fn::GetAtt']?.[0] ?? '');
          return onCache && typeof key === 'string' ? [key] : [];
        });
    const reader = statementsOf(/CacheReader/);
    assert.deepEqual(cachePrefixes(reader, 's3:GetObject*'), ['/amd/*']);
    assert.deepEqual(cachePrefixes(reader, 's3:PutObject'), [], 'a reader never writes');
    const refresh = statementsOf(/RefreshAmdCertsRole/);
    assert.deepEqual(cachePrefixes(refresh, 's3:PutObject'), ['/amd/chains/*']);
    assert.deepEqual(cachePrefixes(refresh, 's3:GetObject*'), [], 'the refresh job never reads');
    assert.ok(refresh.some((s) => ([] as string[]).concat(s.Action).includes('kms:GenerateDataKey*')));
  });

  it('the KMS native path: key-policy conditions on kms:RecipientAttestation:*', () => {
    t.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'AllowOnlyAttestedRecipients',
            Condition: {
              StringEqualsIgnoreCase: {
                'kms:RecipientAttestation:ImageSha384': 'ab'.repeat(48),
                'kms:RecipientAttestation:PCR8': 'cd'.repeat(48),
              },
            },
          }),
        ]),
      },
    });
    assert.throws(() => Attestation.recipientAttestationStatement(new iam.AccountRootPrincipal(), {}));
  });
});
