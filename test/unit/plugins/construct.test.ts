import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { names } from '../../../lambdas/shared/names.ts';
import { PluginAdmission } from '../../../lib/constructs/plugins.ts';
import { PluginAdmissionWorkflow } from '../../../lib/constructs/plugins-workflow.ts';
import { allStates, definitionOf } from '../../helpers/template.ts';

/** Every action the policies attached to the role `roleLogicalIdPrefix…` allow. */
function actionsOf(t: Template, roleLogicalIdPrefix: string): string[] {
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => p.Properties.Roles.some((r: { Ref?: string }) => r.Ref?.startsWith(roleLogicalIdPrefix)))
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .filter((s: { Effect: string }) => s.Effect === 'Allow')
    .flatMap((s: { Action: string | string[] }) => s.Action);
}

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
    const allows = (fn: string, action: string, resource: unknown = Match.anyValue()) =>
      t.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp(`^Plugins${fn}Role`) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Allow', Action: Match.arrayWith([action]), Resource: resource }),
          ]),
        },
      });
    const staging = {
      'Fn::GetAtt': [stack.resolve((pa.stagingBucket.node.defaultChild as CfnElement).logicalId), 'Arn'],
    };
    allows('VerifyStaged', 's3:GetObject*', Match.arrayWith([{ 'Fn::Join': ['', [staging, '/*']] }]));
    allows('VerifyStaged', 'dynamodb:GetItem');
    assert.ok(!actionsOf(t, 'PluginsVerifyStagedRole').includes('dynamodb:PutItem'));
    allows('RecordAdmission', 'dynamodb:PutItem');
    assert.ok(actionsOf(t, 'PluginsRecordAdmissionRole').includes('dynamodb:PutItem'), 'actionsOf finds the role');
    assert.deepEqual(
      actionsOf(t, 'PluginsRecordAdmissionRole').filter((a) => a.startsWith('s3:')),
      [],
    );
    allows('RefreshTrustedRoot', 's3:PutObject', { 'Fn::Join': ['', [staging, '/sigstore/*']] });
    assert.ok(!actionsOf(t, 'PluginsRefreshTrustedRootRole').some((a) => a.startsWith('s3:Get')));
    assert.ok(pa.table && pa.stagingBucket);
  });
});

describe('PluginAdmissionWorkflow construct', () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'PluginWorkflowTest', { env: { account: '123456789012', region: 'us-east-1' } });
  const plugins = new PluginAdmission(stack, 'Plugins', {
    accessLogsBucket: new s3.Bucket(stack, 'Logs'),
    trustPolicy: { version: 1, signers: [{ kind: 'key', keyId: 'k' }] },
  });
  const wf = new PluginAdmissionWorkflow(stack, 'Admission', { plugins, auditBus: new events.EventBus(stack, 'Bus') });
  const t = Template.fromStack(stack);

  it('builds the admission machine from the functions it creates and is given', () => {
    const d = definitionOf(t, names().pluginAdmissionMachine);
    assert.equal(d.StartAt, 'Apply defaults');
    assert.deepEqual([...allStates(d).keys()].sort(), [
      'Admitted',
      'Apply defaults',
      'Approval denied',
      'Approval lapsed',
      'Approval missing',
      'Approval valid?',
      'Approval without approver',
      'Approver not a string',
      'Build request',
      'No approval needed',
      'Publish admission decision',
      'Publish refusal decision',
      'Publish verification decision',
      'Record admission in the registry',
      'Refused',
      'Refused by verification or policy',
      'Registry conflict',
      'Self-approval',
      'Verdict?',
      'Verify bundle and check trust policy',
      'Wait for approval',
    ]);
    const arnOf = (fn: IConstruct) => `<${stack.resolve((fn.node.defaultChild as CfnElement).logicalId)}.Arn>`;
    const invoked = (state: string) => {
      const st = allStates(d).get(state);
      return st.Resource.startsWith('<') ? st.Resource : st.Parameters.FunctionName;
    };
    assert.equal(invoked('Verify bundle and check trust policy'), arnOf(plugins.verifyStaged.fn));
    assert.equal(invoked('Record admission in the registry'), arnOf(plugins.recordAdmission.fn));
    assert.equal(invoked('Publish admission decision'), arnOf(wf.publishFn.fn));
    assert.equal(invoked('Wait for approval'), arnOf(wf.requestApprovalFn.fn));
    assert.ok(wf.onUploadFn && wf.uploadRule);
  });

  it('the upload trigger starts executions of this machine only; the approvers are told through their own topic', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ADMISSION_MACHINE_ARN: Match.anyValue() }) },
    });
    t.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: Match.objectLike({ object: { key: [{ suffix: '.sigstore.json' }] } }),
      }),
    });
    const machine = stack.resolve((wf.machine.stateMachine.node.defaultChild as CfnElement).logicalId);
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^AdmissionOnUploadRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: 'states:StartExecution', Resource: { Ref: machine } })]),
      },
    });
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });
});
