import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { PluginAdmission } from '../../../lib/constructs/plugins.ts';

describe('PluginAdmission construct', () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'PluginTest', { env: { account: '123456789012', region: 'us-east-1' } });
  const logs = new s3.Bucket(stack, 'Logs');
  const pa = new PluginAdmission(stack, 'Plugins', {
    accessLogsBucket: logs,
    trustPolicy: { version: 1, signers: [{ kind: 'key', keyId: 'k' }], provenance: { required: false } },
  });
  const t = Template.fromStack(stack);

  it('staging bucket: SSE-KMS, versioned, public access blocked, access logs, TLS only', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({ ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }) }),
        ],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'plugin-staging/' }),
    });
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      }),
    });
  });

  it('registry table: PITR and a customer-managed key', () => {
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() }),
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    });
  });

  it('five functions with their env; daily refresh schedule targets the refresh function', () => {
    const fns = t.findResources('AWS::Lambda::Function');
    assert.equal(Object.keys(fns).length, 5);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          TRUST_POLICY: Match.stringLikeRegexp('"version":1'),
          TRUSTED_ROOT_MAX_AGE_HOURS: '168',
        }),
      },
    });
    t.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 day)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('RefreshTrustedRoot'), 'Arn'] } })],
    });
  });

  it('grants: verify reads staging + table; record writes the table; refresh only puts under sigstore/', () => {
    const policies = t.findResources('AWS::IAM::Policy');
    const docOf = (frag: string) => JSON.stringify(Object.entries(policies).find(([k]) => k.includes(frag))?.[1] ?? {});
    assert.match(docOf('VerifyStaged'), /s3:GetObject/);
    assert.match(docOf('VerifyStaged'), /dynamodb:GetItem/);
    assert.doesNotMatch(docOf('VerifyStaged'), /dynamodb:PutItem/);
    assert.match(docOf('RecordAdmission'), /dynamodb:PutItem/);
    assert.doesNotMatch(docOf('RecordAdmission'), /s3:/);
    assert.match(docOf('RefreshTrustedRoot'), /s3:PutObject/);
    assert.match(docOf('RefreshTrustedRoot'), /sigstore\/\*/);
    assert.ok(pa.table && pa.stagingBucket);
  });
});
