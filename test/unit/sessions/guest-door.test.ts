/**
 * The guests' door as synthesized: a PRIVATE REST API behind the session VPC's
 * execute-api endpoint, AWS_IAM on every method, a resource policy that admits
 * that endpoint and the session role only (parsed, and evaluated by the local
 * stand-in's policy evaluator), stage throttling from context, encrypted access
 * logs, X-Ray; session groups that reach only the door's and the SSM agent's
 * endpoints; the door function's grants; no Function URL anywhere.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { Principal } from '../../../local/standins/api-gateway/credentials.ts';
import { compilePolicy } from '../../../local/standins/api-gateway/policy.ts';
import { testApp } from '../../helpers/synth.ts';

const { stacks } = testApp();
const t = Template.fromStack(stacks.controlPlane);
const resources = t.toJSON().Resources as Record<string, { Type: string; Properties: any }>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const onlyId = (type: string, prefix: string) => {
  const ids = ofType(type)
    .map(([id]) => id)
    .filter((id) => id.startsWith(prefix));
  assert.equal(ids.length, 1, `${type} ${prefix}*: ${ids.join(', ')}`);
  return ids[0]!;
};
const apiId = onlyId('AWS::ApiGateway::RestApi', 'SessionsGuestDoorApi');
const api = resources[apiId]!.Properties;
const endpointId = ofType('AWS::EC2::VPCEndpoint').find(([, r]) =>
  JSON.stringify(r.Properties.ServiceName).endsWith('.execute-api"]]}'),
)?.[0];
const roleId = onlyId('AWS::IAM::Role', 'SessionsInstanceRole');

describe('guests’ door (synthesized)', () => {
  it('a PRIVATE REST API whose only endpoint is the session VPC’s execute-api endpoint', () => {
    assert.deepEqual(api.EndpointConfiguration, { Types: ['PRIVATE'], VpcEndpointIds: [{ Ref: endpointId }] });
    const e = resources[endpointId!]!.Properties;
    assert.equal(e.VpcEndpointType, 'Interface');
    assert.equal(e.PrivateDnsEnabled, true);
    assert.deepEqual(e.SecurityGroupIds, [
      { 'Fn::GetAtt': [onlyId('AWS::EC2::SecurityGroup', 'NetworkDoorEndpointGroup'), 'GroupId'] },
    ]);
    assert.deepEqual(e.ServiceName['Fn::Join'][1].at(-1), '.execute-api');
  });

  it('AWS_IAM on every method; the six routes, each to the door function (AWS_PROXY)', () => {
    const paths = new Map<string, string>();
    for (const [id, r] of ofType('AWS::ApiGateway::Resource')) {
      const parent = r.Properties.ParentId.Ref ? paths.get(r.Properties.ParentId.Ref) : '';
      paths.set(id, `${parent ?? '?'}/${r.Properties.PathPart}`);
    }
    // Parents first (v1 before its children): a second pass settles any order.
    for (const [id, r] of ofType('AWS::ApiGateway::Resource')) {
      const parent = r.Properties.ParentId.Ref ? paths.get(r.Properties.ParentId.Ref) : '';
      paths.set(id, `${parent}/${r.Properties.PathPart}`);
    }
    const methods = ofType('AWS::ApiGateway::Method').map(([, r]) => r.Properties);
    assert.ok(methods.length > 0);
    for (const m of methods) assert.equal(m.AuthorizationType, 'AWS_IAM', JSON.stringify(m));
    const fn = onlyId('AWS::Lambda::Function', 'SessionsGuestDoorFunction');
    assert.deepEqual(
      methods
        .filter((m) => m.RestApiId.Ref === apiId)
        .map((m) => {
          assert.equal(m.Integration.Type, 'AWS_PROXY');
          assert.deepEqual(m.Integration.Uri['Fn::Join'][1][5], { 'Fn::GetAtt': [fn, 'Arn'] });
          return `${m.HttpMethod} ${paths.get(m.ResourceId.Ref)}`;
        })
        .sort(),
      [
        'GET /v1/session',
        'POST /v1/evidence',
        'POST /v1/heartbeat',
        'POST /v1/nonce',
        'POST /v1/requests',
        'POST /v1/telemetry',
      ],
    );
    // API Gateway may invoke the function for this API's stage only.
    const perms = ofType('AWS::Lambda::Permission')
      .map(([, r]) => r.Properties)
      .filter((p) => p.Principal === 'apigateway.amazonaws.com' && p.FunctionName['Fn::GetAtt']?.[0] === fn);
    assert.equal(perms.length, 6);
    for (const p of perms)
      assert.deepEqual(p.SourceArn['Fn::Join'][1].slice(7, 10), [
        { Ref: apiId },
        '/',
        { Ref: onlyId('AWS::ApiGateway::Stage', 'SessionsGuestDoorApi') },
      ]);
  });

  it('the resource policy: the session role through the door’s endpoint, and explicit Denies for anything else', () => {
    const statements = api.Policy.Statement as any[];
    const vpce = { Ref: endpointId };
    const role = { 'Fn::GetAtt': [roleId, 'Arn'] };
    assert.deepEqual(statements, [
      {
        Sid: 'SessionInstancesThroughTheSessionEndpoint',
        Effect: 'Allow',
        Principal: { AWS: role },
        Action: 'execute-api:Invoke',
        Resource: 'execute-api:/*',
        Condition: { StringEquals: { 'aws:SourceVpce': vpce } },
      },
      {
        Sid: 'DenyAnyOtherEndpoint',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'execute-api:Invoke',
        Resource: 'execute-api:/*',
        Condition: { StringNotEquals: { 'aws:SourceVpce': vpce } },
      },
      {
        Sid: 'DenyAnyOtherPrincipal',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'execute-api:Invoke',
        Resource: 'execute-api:/*',
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': [role] } },
      },
    ]);
    // Evaluated, with the intrinsics as the values they stand for.
    const ROLE = 'arn:aws:iam::123456789012:role/SessionsInstanceRole';
    const VPCE = 'vpce-0door000000000000';
    const doc = JSON.parse(
      JSON.stringify(api.Policy)
        .replaceAll(JSON.stringify(role), `"${ROLE}"`)
        .replaceAll(JSON.stringify(vpce), `"${VPCE}"`),
    );
    const policy = compilePolicy(doc, 'arn:aws:execute-api:us-east-1:123456789012:abc123');
    const session = (roleArn: string): Principal => ({
      arn: `arn:aws:sts::123456789012:assumed-role/${roleArn.split('/').pop()}/i-0123456789abcdef0`,
      id: 'AROAEXAMPLE:i-0123456789abcdef0',
      accountId: '123456789012',
      type: 'AssumedRole',
      principalArn: roleArn,
    });
    const decide = (principal: Principal | undefined, sourceVpce: string | undefined) =>
      policy.evaluate({
        principal,
        action: 'execute-api:Invoke',
        resource: 'arn:aws:execute-api:us-east-1:123456789012:abc123/door/GET/v1/session',
        context: { 'aws:sourcevpce': sourceVpce, 'aws:principalarn': principal?.principalArn },
      });
    assert.equal(decide(session(ROLE), VPCE), 'Allow');
    assert.equal(decide(session(ROLE), 'vpce-0other00000000000'), 'Deny');
    assert.equal(decide(session(ROLE), undefined), 'Deny');
    assert.equal(decide(session('arn:aws:iam::123456789012:role/Other'), VPCE), 'Deny');
    assert.equal(decide(undefined, VPCE), 'Deny');
  });

  it('stage: throttled (context defaults), X-Ray, access logs to an encrypted log group, no bodies in logs', () => {
    const stage = resources[onlyId('AWS::ApiGateway::Stage', 'SessionsGuestDoorApi')]!.Properties;
    assert.equal(stage.StageName, 'door');
    assert.equal(stage.TracingEnabled, true);
    assert.deepEqual(stage.MethodSettings, [
      {
        DataTraceEnabled: false,
        HttpMethod: '*',
        LoggingLevel: 'ERROR',
        MetricsEnabled: true,
        ResourcePath: '/*',
        ThrottlingBurstLimit: 200,
        ThrottlingRateLimit: 100,
      },
    ]);
    const logGroup = onlyId('AWS::Logs::LogGroup', 'SessionsGuestDoorAccessLogs');
    assert.deepEqual(stage.AccessLogSetting.DestinationArn, { 'Fn::GetAtt': [logGroup, 'Arn'] });
    const format = JSON.parse(stage.AccessLogSetting.Format);
    assert.equal(format.callerArn, '$context.identity.userArn');
    assert.equal(format.vpceId, '$context.identity.vpceId');
    assert.ok(resources[logGroup]!.Properties.KmsKeyId, 'encrypted with the logs key');

    const { stacks: tuned } = testApp({
      sessions: { door: { stageRateLimit: 7, stageBurstLimit: 9, callerRequests: 30, callerWindowSeconds: 10 } },
    } as never);
    const tt = Template.fromStack(tuned.controlPlane);
    tt.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 7, ThrottlingBurstLimit: 9 })],
    });
    tt.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ CALLER_REQUESTS: '30', CALLER_WINDOW_SECONDS: '10' }) },
    });
  });

  it('session groups: no inbound; outbound 443 to the door’s and the SSM agent’s endpoint groups, nothing else', () => {
    const groups = ofType('AWS::EC2::SecurityGroup').filter(([, r]) =>
      /sessions: no inbound/.test(r.Properties.GroupDescription),
    );
    assert.equal(groups.length, 3);
    const door = onlyId('AWS::EC2::SecurityGroup', 'NetworkDoorEndpointGroup');
    const agent = onlyId('AWS::EC2::SecurityGroup', 'NetworkAgentChannelGroup');
    for (const [id, g] of groups) {
      assert.equal(g.Properties.SecurityGroupIngress, undefined);
      assert.equal(g.Properties.SecurityGroupEgress, undefined, 'no inline rule (CIDR) at all');
      const egress = ofType('AWS::EC2::SecurityGroupEgress')
        .map(([, r]) => r.Properties)
        .filter((p) => p.GroupId['Fn::GetAtt'][0] === id);
      assert.deepEqual(
        egress
          .map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.DestinationSecurityGroupId['Fn::GetAtt'][0], p.CidrIp])
          .sort(),
        [
          ['tcp', 443, 443, agent, undefined],
          ['tcp', 443, 443, door, undefined],
        ].sort(),
      );
    }
    // The agent's channels are SSM, SSM Messages and EC2 Messages; KMS, Secrets Manager, Logs and STS are not reachable.
    const behind = (group: string) =>
      ofType('AWS::EC2::VPCEndpoint')
        .filter(([, r]) => r.Properties.SecurityGroupIds?.[0]?.['Fn::GetAtt']?.[0] === group)
        .map(([, r]) => r.Properties.ServiceName['Fn::Join'][1].at(-1))
        .sort();
    assert.deepEqual(behind(agent), ['.ec2messages', '.ssm', '.ssmmessages']);
    assert.deepEqual(behind(door), ['.execute-api']);
    for (const g of [door, agent])
      assert.deepEqual(resources[g]!.Properties.SecurityGroupIngress, [
        {
          CidrIp: '10.42.0.0/16',
          Description: 'HTTPS from the session VPC',
          FromPort: 443,
          IpProtocol: 'tcp',
          ToPort: 443,
        },
      ]);
  });

  it('the door function: session-machine callbacks only, its own index by name, the AMD cache read-only', () => {
    const statements = ofType('AWS::IAM::Policy')
      .filter(([id]) => id.startsWith('SessionsGuestDoorFunction'))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
    const actions = (st: any) => ([] as string[]).concat(st.Action);
    const sendTask = statements.filter((st) => actions(st).some((a) => a.startsWith('states:SendTask')));
    assert.equal(sendTask.length, 1);
    assert.deepEqual(actions(sendTask[0]).sort(), [
      'states:SendTaskFailure',
      'states:SendTaskHeartbeat',
      'states:SendTaskSuccess',
    ]);
    assert.match(JSON.stringify(sendTask[0].Resource), /:stateMachine:aidops-dev-session"/);
    const s3Actions = statements.flatMap(actions).filter((a) => a.startsWith('s3:'));
    assert.ok(s3Actions.includes('s3:GetObject*'), s3Actions.join(','));
    assert.ok(!s3Actions.some((a) => /Put|Delete/.test(a)), s3Actions.join(','));
    const query = statements.find((st) => actions(st).includes('dynamodb:Query') && actions(st).length === 1);
    const fn = resources[onlyId('AWS::Lambda::Function', 'SessionsGuestDoorFunction')]!.Properties;
    const table = fn.Environment.Variables.SESSION_TABLE.Ref as string;
    assert.deepEqual(query?.Resource, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/index/byInstance']] });
    // Only the door reads the index; no role anywhere is granted every index of the session table.
    assert.ok(!JSON.stringify(resources).includes('/index/*'), 'no index/* grant');
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byInstance',
          KeySchema: [{ AttributeName: 'instanceId', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
    });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          INSTANCE_ROLE_NAMES: Match.anyValue(),
          REQUEST_TABLE: Match.anyValue(),
          AMD_CERT_BUCKET: Match.anyValue(),
          AMD_CERT_PREFIX: 'amd/',
          AMD_CERT_MAX_AGE_HOURS: '72',
        }),
      },
    });
  });

  it('no Function URL is left in any stack, and no role may invoke one', () => {
    for (const s of Object.values(stacks)) {
      const tpl = Template.fromStack(s);
      tpl.resourceCountIs('AWS::Lambda::Url', 0);
      const urlGrants = Object.values(tpl.findResources('AWS::IAM::Policy')).flatMap((p: any) =>
        (p.Properties.PolicyDocument.Statement as any[]).flatMap((st) => ([] as string[]).concat(st.Action)),
      );
      assert.ok(!urlGrants.includes('lambda:InvokeFunctionUrl'));
    }
  });
});
