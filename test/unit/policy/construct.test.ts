import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { names } from '../../../lambdas/shared/names.ts';
import { PolicyEngine } from '../../../lib/constructs/policy.ts';

/** Every action the policies attached to the role `roleLogicalIdPrefix…` allow. */
function actionsOf(t: Template, roleLogicalIdPrefix: string): string[] {
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => p.Properties.Roles.some((r: { Ref?: string }) => r.Ref?.startsWith(roleLogicalIdPrefix)))
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .filter((s: { Effect: string }) => s.Effect === 'Allow')
    .flatMap((s: { Action: string | string[] }) => s.Action);
}

function synth() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'PolicyTest', { env: { account: '123456789012', region: 'us-east-1' } });
  const bus = new events.EventBus(stack, 'Bus');
  const pe = new PolicyEngine(stack, 'Policy', { auditBus: bus });
  pe.grantPublish(new iam.Role(stack, 'Publisher', { assumedBy: new iam.AccountRootPrincipal() }));
  const table = (id: string, pk: string) =>
    new dynamodb.Table(stack, id, {
      partitionKey: { name: pk, type: dynamodb.AttributeType.STRING },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: new kms.Key(stack, `${id}Key`),
    });
  pe.readStateFrom({
    sessionTable: table('Sessions', 'sessionId'),
    flagPrefix: '/aidops/flags',
    registryTable: table('Registry', 'pk'),
  });
  return { t: Template.fromStack(stack), pe };
}

describe('PolicyEngine construct', () => {
  const { t, pe } = synth();

  it('versioned, private, encrypted, TLS-only policy bucket that is retained', () => {
    t.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicAcls: true, RestrictPublicBuckets: true }),
        BucketEncryption: Match.anyValue(),
      }),
    });
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      }),
    });
  });

  it('the active-version parameter starts on the bundle shipped in the function, with no deployment custom resource', () => {
    t.hasResourceProperties('AWS::SSM::Parameter', {
      Name: names().policyParameter,
      Value: JSON.stringify({ bundled: true }),
    });
    t.resourceCountIs('Custom::CDKBucketDeployment', 0);
    assert.match(pe.bundleKey, /^bundles\//);
  });

  it('the decide function knows its engine and policy source and can read them', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('Cedar or Rego'),
      Runtime: 'nodejs24.x',
      Environment: {
        Variables: Match.objectLike({
          POLICY_ENGINE: 'rego',
          POLICY_BUNDLE_FILE: 'policy-bundle.json',
          POLICY_REFRESH_SECONDS: '30',
          POLICY_PARAMETER: Match.anyValue(),
          AUDIT_BUS_NAME: Match.anyValue(),
        }),
      },
    });
    for (const a of ['s3:GetObject*', 'ssm:GetParameter', 'events:PutEvents']) {
      assert.ok(actionsOf(t, 'PolicyDecideRole').includes(a), `the decide function is not granted ${a}`);
    }
    for (const a of ['s3:PutObject', 'ssm:PutParameter']) {
      assert.ok(actionsOf(t, 'Publisher').includes(a), `grantPublish does not grant ${a}`);
    }
  });

  it('reads the session, flags and registry it decides on: named in its environment, read-only grants', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('Cedar or Rego'),
      Environment: {
        Variables: Match.objectLike({
          SESSION_TABLE: { Ref: Match.stringLikeRegexp('^Sessions') },
          SESSION_STATE_CACHE_SECONDS: '10',
          FLAG_PREFIX: '/aidops/flags',
          FLAG_CACHE_SECONDS: '30',
          REGISTRY_TABLE: { Ref: Match.stringLikeRegexp('^Registry') },
        }),
      },
    });
    const actions = actionsOf(t, 'PolicyDecideRole');
    for (const a of [
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:BatchGetItem',
      'ssm:GetParametersByPath',
      'kms:Decrypt',
    ])
      assert.ok(actions.includes(a), `the decide function is not granted ${a}`);
    const writes = actions.filter((a) =>
      /^dynamodb:(Put|Update|Delete|BatchWrite)|^ssm:Put|^kms:(Encrypt|GenerateDataKey)/.test(a),
    );
    assert.deepEqual(writes, [], 'the decider reads state, it never writes it');
    // GetItem on the session table, no Scan or Query there: it looks up one session at a time.
    const statements = Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p) => p.Properties.Roles.some((r: { Ref?: string }) => r.Ref?.startsWith('PolicyDecideRole')))
      .flatMap((p) => p.Properties.PolicyDocument.Statement);
    const onSessions = statements.filter((st: { Resource: unknown }) =>
      JSON.stringify(st.Resource).includes('Sessions'),
    );
    assert.deepEqual(
      onSessions
        .flatMap((st: { Action: string | string[] }) => [st.Action].flat())
        .filter((a) => a.startsWith('dynamodb:')),
      ['dynamodb:GetItem'],
    );
  });

  it('refuses to synthesize a session cache above 10 s or a flag cache above 30 s', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'S');
    const p = new PolicyEngine(stack, 'P');
    const tbl = new dynamodb.Table(stack, 'T', { partitionKey: { name: 'k', type: dynamodb.AttributeType.STRING } });
    const base = { sessionTable: tbl, registryTable: tbl, flagPrefix: '/f' };
    assert.throws(() => p.readStateFrom({ ...base, sessionCache: Duration.seconds(11) }), /at most 10 seconds/);
    assert.throws(() => p.readStateFrom({ ...base, flagCacheSeconds: 31 }), /at most 30 seconds/);
  });

  it('refuses to synthesize a refresh window above 30 s', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'S');
    assert.throws(() => new PolicyEngine(stack, 'P', { refresh: Duration.minutes(1) }), /at most 30 seconds/);
  });
});
