import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Attestation } from '../../../lib/constructs/attestation.ts';

function synth() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'AttestTest', { env: { account: '123456789012', region: 'us-east-1' } });
  const key = new kms.Key(stack, 'Key');
  const a = new Attestation(stack, 'Attestation', {
    key,
    stateMachineArns: ['arn:aws:states:us-east-1:123456789012:stateMachine:sessions'],
  });
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

  it('function env names the table and the secret prefix', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          NONCE_TABLE: Match.anyValue(),
          SECRET_PREFIX: 'aidops/session/',
          NONCE_TTL_SECONDS: '300',
        }),
      },
    });
  });

  it('IAM: table read/write, GetSecretValue on the prefix only, task-token callbacks on the given state machine', () => {
    const policies = t.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: Record<string, unknown>[] } } }).Properties.PolicyDocument
          .Statement,
    );
    const find = (action: string) => statements.find((s) => ([] as unknown[]).concat(s.Action).includes(action));
    assert.ok(find('dynamodb:UpdateItem'));
    assert.ok(find('dynamodb:GetItem'));
    const sm = find('secretsmanager:GetSecretValue');
    assert.match(JSON.stringify(sm?.Resource), /secret:aidops\/session\/\*/);
    const sfn = find('states:SendTaskSuccess');
    assert.deepEqual(sfn?.Action, ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']);
    assert.equal(sfn?.Resource, 'arn:aws:states:us-east-1:123456789012:stateMachine:sessions');
    assert.ok(find('kms:Decrypt'));
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
