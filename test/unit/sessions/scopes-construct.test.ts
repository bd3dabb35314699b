/**
 * The scope-grant construct as synthesized: the request table, the state machine
 * and what each piece may touch.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import { names } from '../../../lambdas/shared/names.ts';
import { ScopeGrants } from '../../../lib/constructs/scopes.ts';
import { allStates, definitionOf, type Json } from '../../helpers/template.ts';

function synth() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'ScopesTest', { env: { account: '123456789012', region: 'us-east-1' } });
  const key = new kms.Key(stack, 'DataKey');
  const sessionTable = new dynamodb.Table(stack, 'Sessions', {
    partitionKey: { name: 'sessionId', type: dynamodb.AttributeType.STRING },
    encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
    encryptionKey: key,
  });
  new ScopeGrants(stack, 'Scopes', { sessionTable, dataKey: key, auditBus: new events.EventBus(stack, 'Bus') });
  return Template.fromStack(stack);
}

describe('ScopeGrants construct', () => {
  const t = synth();
  const def = definitionOf(t, names().scopeGrantMachine);
  const states = allStates(def);

  it('a retained, encrypted request table keyed by request id, purged by TTL', () => {
    t.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }],
        TimeToLiveSpecification: { AttributeName: 'purgeAt', Enabled: true },
        SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
      }),
    });
  });

  it('waits on a task token parked on the request item, for what is left of the approval window', () => {
    const wait = states.get('Wait for approval') as Json;
    assert.match(wait.Resource, /lambda:invoke\.waitForTaskToken$/);
    assert.equal(wait.Parameters.Payload.step, 'park');
    assert.equal(wait.Parameters.Payload['taskToken.$'], '$$.Task.Token');
    assert.equal(wait.TimeoutSecondsPath, '$.Payload.remainingSeconds');
    assert.deepEqual(
      wait.Catch.map((c: Json) => [c.ErrorEquals, c.Next]),
      [
        [['States.Timeout', 'States.HeartbeatTimeout'], 'Expire request'],
        [['States.ALL'], 'Close failed approval'],
      ],
    );
  });

  it('a self-approval or a malformed answer goes back to waiting while time is left', () => {
    const answer = states.get('Answer') as Json;
    assert.deepEqual(answer.Catch[0].ErrorEquals, ['TwoPersonRuleError', 'ValidationError']);
    assert.equal(answer.Catch[0].Next, 'Answer refused');
    assert.equal(states.get('Answer refused').Next, 'Time left?');
    assert.equal(states.get('Time left?').Choices[0].Next, 'Approval window');
    assert.equal(states.get('Approval window').Next, 'Wait for approval');
  });

  it('the step function may only read and update session items; the machine touches no table', () => {
    const policies = Object.values(t.findResources('AWS::IAM::Policy'));
    const of = (rolePrefix: string) =>
      policies
        .filter((p: Json) => p.Properties.Roles.some((r: Json) => r.Ref?.startsWith(rolePrefix)))
        .flatMap((p: Json) => p.Properties.PolicyDocument.Statement);
    const onSessions = of('ScopesStepRole').filter((s: Json) => JSON.stringify(s.Resource).includes('Sessions'));
    assert.deepEqual(onSessions.flatMap((s: Json) => s.Action).sort(), ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    const machine = of('ScopesMachine').flatMap((s: Json) => [s.Action].flat());
    assert.ok(!machine.some((a: string) => a.startsWith('dynamodb:')), machine.join(', '));
  });
});
