/**
 * The people's door and the operator roles as synthesized, statements parsed:
 * a REGIONAL REST API, AWS_IAM on every method, a resource policy that admits
 * this account only; the account's one API Gateway logging role; only the
 * door's function may answer the approval machines (SendTask*); each operator
 * role's grants are exactly its job, assumable with MFA. The local stand-in
 * does not evaluate identity policies: these are where "a principal without the
 * approver role may not approve" is checked.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { names } from '../../lambdas/shared/names.ts';
import { testApp } from '../helpers/synth.ts';

const { stacks } = testApp();
const { Template } = await import('aws-cdk-lib/assertions');
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

/** An intrinsic as text: literal parts kept, references as `{Ref}` / `{Id.Attr}`. */
function flat(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(flat).join(',');
  const o = v as Record<string, any>;
  if (o['Fn::Join']) return (o['Fn::Join'][1] as unknown[]).map(flat).join(o['Fn::Join'][0]);
  if (o.Ref) return `{${o.Ref}}`;
  if (o['Fn::GetAtt']) return `{${o['Fn::GetAtt'].join('.')}}`;
  if (o['Fn::ImportValue']) return `{import:${flat(o['Fn::ImportValue'])}}`;
  return JSON.stringify(v);
}
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

interface Stmt {
  readonly Effect: string;
  readonly actions: string[];
  readonly resources: string[];
}
/** Every Allow statement of every policy attached to the role (inline or AWS::IAM::Policy). */
function statementsOf(roleId: string): Stmt[] {
  const docs: any[] = [];
  for (const p of list(resources[roleId]!.Properties.Policies)) docs.push((p as any).PolicyDocument);
  for (const [, p] of ofType('AWS::IAM::Policy'))
    if (list(p.Properties.Roles).some((r: any) => r.Ref === roleId)) docs.push(p.Properties.PolicyDocument);
  return docs.flatMap((d) =>
    list(d.Statement).map((s: any) => ({
      Effect: s.Effect,
      actions: list(s.Action),
      resources: list(s.Resource).map(flat),
    })),
  );
}

const apiId = onlyId('AWS::ApiGateway::RestApi', 'PeopleDoorApi');
const doorRole = onlyId('AWS::IAM::Role', 'PeopleDoorFunctionRole');

describe('people’s door (synthesized)', () => {
  it('a REGIONAL REST API, AWS_IAM on every method, throttled, traced, access logs encrypted', () => {
    const api = resources[apiId]!.Properties;
    assert.deepEqual(api.EndpointConfiguration, { Types: ['REGIONAL'] });
    const methods = ofType('AWS::ApiGateway::Method').filter(([, m]) => m.Properties.RestApiId.Ref === apiId);
    assert.equal(methods.length, 6);
    for (const [, m] of methods) assert.equal(m.Properties.AuthorizationType, 'AWS_IAM');
    const stage = ofType('AWS::ApiGateway::Stage').find(([, s]) => s.Properties.RestApiId.Ref === apiId)![1].Properties;
    assert.equal(stage.TracingEnabled, true);
    assert.ok(stage.MethodSettings[0].ThrottlingRateLimit > 0);
    const logGroup = stage.AccessLogSetting.DestinationArn['Fn::GetAtt'][0];
    assert.ok(resources[logGroup]!.Properties.KmsKeyId, 'access logs encrypted');
    assert.equal(ofType('AWS::ApiGateway::Account').length, 1, 'one API Gateway logging role per account');
  });

  it('the resource policy admits this account’s principals and denies every other account', () => {
    const stmts = list(resources[apiId]!.Properties.Policy.Statement) as any[];
    const allow = stmts.filter((s) => s.Effect === 'Allow');
    assert.equal(allow.length, 1);
    assert.match(flat(allow[0].Principal.AWS), /^arn:\{AWS::Partition\}:iam::\{AWS::AccountId\}:root$/);
    const deny = stmts.find((s) => s.Sid === 'DenyOtherAccounts');
    assert.deepEqual(deny.Condition, { StringNotEquals: { 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' } } });
  });

  it('only the door’s function may SendTaskSuccess/Failure on the restore, plugin and scope machines', () => {
    const machines = ofType('AWS::StepFunctions::StateMachine')
      .filter(([, m]) =>
        [names().restoreMachine, names().pluginAdmissionMachine, names().scopeGrantMachine].includes(
          m.Properties.StateMachineName,
        ),
      )
      .map(([id]) => `{${id}}`);
    assert.equal(machines.length, 3);
    const holders = new Map<string, Set<string>>();
    for (const [roleId] of ofType('AWS::IAM::Role'))
      for (const s of statementsOf(roleId))
        if (s.Effect === 'Allow' && s.actions.some((a) => /^states:(SendTask|\*)/.test(a) || a === '*'))
          for (const r of s.resources)
            if (machines.includes(r) || r === '*') holders.set(r, (holders.get(r) ?? new Set()).add(roleId));
    for (const m of machines) assert.deepEqual([...(holders.get(m) ?? [])], [doorRole], m);
    assert.equal(holders.get('*'), undefined, 'nobody holds SendTask* on every machine');
  });

  it('the door’s URL is in SSM for the CLI', () => {
    t.hasResourceProperties('AWS::SSM::Parameter', { Name: '/aidops/dev/people-door-url' });
  });
});

describe('operator roles (synthesized)', () => {
  const role = (name: string) => onlyId('AWS::IAM::Role', `Operators${name}`);
  const invokes = (roleId: string) =>
    statementsOf(roleId)
      .filter((s) => s.actions.includes('execute-api:Invoke'))
      .flatMap((s) => s.resources.map((r) => r.replace(/^.*:\{PeopleDoorApi[^}]*\}\//, '')))
      .sort();
  const actions = (roleId: string) => [...new Set(statementsOf(roleId).flatMap((s) => s.actions))].sort();

  it('each is assumable by this account’s principals with MFA only', () => {
    for (const name of ['Responder', 'Approver', 'Auditor', 'Administrator']) {
      const trust = resources[role(name)]!.Properties.AssumeRolePolicyDocument.Statement;
      assert.equal(trust.length, 1);
      assert.deepEqual(trust[0].Condition, { Bool: { 'aws:MultiFactorAuthPresent': 'true' } });
      assert.match(flat(trust[0].Principal.AWS), /:iam::\{AWS::AccountId\}:root$/);
    }
  });

  it('responder: the incident routes only (tombstone, restore, status); no approvals', () => {
    assert.deepEqual(actions(role('Responder')), ['execute-api:Invoke']);
    assert.deepEqual(invokes(role('Responder')), [
      'people/GET/v1/incidents/*',
      'people/POST/v1/incidents/restore',
      'people/POST/v1/incidents/tombstone',
    ]);
  });

  it('approver: approve and reject only', () => {
    assert.deepEqual(actions(role('Approver')), ['execute-api:Invoke']);
    assert.deepEqual(invokes(role('Approver')), [
      'people/POST/v1/approvals/*/*/approve',
      'people/POST/v1/approvals/*/*/reject',
    ]);
  });

  it('auditor: read only (audit bucket, evidence, digest key public half, head table); no write anywhere', () => {
    const a = actions(role('Auditor'));
    assert.deepEqual(a, [
      'dynamodb:DescribeTable',
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'kms:Decrypt',
      'kms:DescribeKey',
      'kms:GetPublicKey',
      'kms:Verify',
      's3:GetBucketObjectLockConfiguration',
      's3:GetObject',
      's3:GetObjectLegalHold',
      's3:GetObjectRetention',
      's3:GetObjectVersion',
      's3:ListBucket',
      's3:ListBucketVersions',
    ]);
    const write =
      /:(Put|Delete|Create|Update|Write|Batch|Restore|Bypass|Sign|Encrypt|GenerateDataKey|ReEncrypt|Tag|Untag|Abort|Replicate|Send|Start|Invoke|\*)/;
    for (const x of a) assert.doesNotMatch(x, write, x);
    assert.deepEqual(invokes(role('Auditor')), []);
  });

  it('administrator: the flags route, policy publish (bucket put and SSM pointer); no approvals', () => {
    assert.deepEqual(invokes(role('Administrator')), ['people/PUT/v1/flags/*']);
    assert.deepEqual(actions(role('Administrator')), [
      'execute-api:Invoke',
      's3:PutObject',
      'ssm:GetParameter',
      'ssm:PutParameter',
    ]);
  });

  it('operatorRolesOnly: the resource policy denies everyone but the four roles', () => {
    const other = testApp({ peopleDoor: { operatorRolesOnly: true } } as never);
    const tt = Template.fromStack(other.stacks.controlPlane).toJSON().Resources as Record<string, any>;
    const api = Object.entries(tt).find(
      ([id, r]) => id.startsWith('PeopleDoorApi') && r.Type === 'AWS::ApiGateway::RestApi',
    )!;
    const deny = list(api[1].Properties.Policy.Statement).find(
      (s: any) => s.Sid === 'DenyAnyoneButTheOperatorRoles',
    ) as any;
    assert.equal(deny.Condition.ArnNotEquals['aws:PrincipalArn'].length, 4);
  });
});
