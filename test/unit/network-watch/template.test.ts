/**
 * The network watch as synthesized: a subscription filter on the flow-log group
 * passing REJECT records only, to the watch function; the function's grants
 * (read interfaces and instances, claim bursts, put on the audit bus, nothing
 * else); the trigger reads the session table and carries the by-tier actions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../../lib/config.ts';
import { testApp } from '../../helpers/synth.ts';

const { stacks } = testApp();
const t = Template.fromStack(stacks.controlPlane);
type Json = any;

const idOf = (type: string, prefix: string): string => {
  const ids = Object.keys(t.findResources(type)).filter((id) => id.startsWith(prefix));
  assert.equal(ids.length, 1, `${type} ${prefix}*: ${ids.join(', ')}`);
  return ids[0]!;
};

describe('network watch template', () => {
  it('subscribes the watch function to the flow-log group, REJECT records only', () => {
    const fn = idOf('AWS::Lambda::Function', 'NetworkWatchFn');
    const group = idOf('AWS::Logs::LogGroup', 'NetworkFlowLogs');
    t.hasResourceProperties('AWS::Logs::SubscriptionFilter', {
      LogGroupName: { Ref: group },
      DestinationArn: { 'Fn::GetAtt': [fn, 'Arn'] },
      FilterPattern:
        '[version, account, eni, source, destination, srcport, destport, protocol, packets, bytes, windowstart, windowend, action = "REJECT", flowlogstatus]',
    });
    // The flow log writes the default format the watch parses (no custom LogFormat).
    const flowLogs = Object.values(t.findResources('AWS::EC2::FlowLog')) as Json[];
    assert.equal(flowLogs.length, 1);
    assert.equal(flowLogs[0].Properties.LogFormat, undefined);
    assert.equal(flowLogs[0].Properties.TrafficType, 'ALL');
    t.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
      Principal: 'logs.amazonaws.com',
    });
  });

  it('grants the watch only what it uses', () => {
    const fn = t.findResources('AWS::Lambda::Function')[idOf('AWS::Lambda::Function', 'NetworkWatchFn')] as Json;
    const role = fn.Properties.Role['Fn::GetAtt'][0];
    const statements = Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p: Json) => p.Properties.Roles.some((r: Json) => r.Ref === role))
      .flatMap((p: Json) => p.Properties.PolicyDocument.Statement as Json[]);
    const actions = statements.flatMap((s) => [s.Action].flat()).sort();
    assert.deepEqual(
      // dynamodb/kms: the incident table and its key; logs: its own log group; xray: tracing.
      [...new Set(actions)].filter((a) => !/^(dynamodb|kms|xray):/.test(a)),
      [
        'ec2:DescribeInstances',
        'ec2:DescribeNetworkInterfaces',
        'events:PutEvents',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
      ],
    );
    const unscoped = statements.filter((s) => s.Resource === '*').flatMap((s) => [s.Action].flat());
    assert.deepEqual(unscoped.filter((a) => !a.startsWith('xray:')).sort(), [
      'ec2:DescribeInstances',
      'ec2:DescribeNetworkInterfaces',
    ]);
    assert.ok(actions.includes('dynamodb:PutItem'));
  });

  it('routes SuspiciousEgress to the trigger, which reads the tier from the session table', () => {
    t.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ 'detail-type': Match.arrayWith(['SuspiciousEgress']) }),
    });
    const trigger = t.findResources('AWS::Lambda::Function')[
      idOf('AWS::Lambda::Function', 'RemediationTriggersTriggerFn')
    ] as Json;
    const env = trigger.Properties.Environment.Variables;
    assert.deepEqual(JSON.parse(env.EGRESS_ACTIONS), { high: 'tombstone', medium: 'alert', low: 'alert' });
    assert.ok(env.SESSION_TABLE, 'the trigger knows the session table');
  });

  it('aidops:suspiciousEgressActions is merged over the defaults and checked at synth', () => {
    assert.deepEqual(parseConfig({ suspiciousEgressActions: '{"medium":"tombstone"}' }).suspiciousEgressActions, {
      high: 'tombstone',
      medium: 'tombstone',
      low: 'alert',
    });
    assert.throws(() => parseConfig({ suspiciousEgressActions: '{"low":"shrug"}' }), /suspiciousEgressActions|low/);
    assert.throws(() => parseConfig({ suspiciousEgressActions: '{"critical":"alert"}' }));
  });
});
