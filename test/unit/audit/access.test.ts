/**
 * Who can write the audit trail and sign its digests, read from the synthesized
 * templates (moto enforces neither bucket nor key policies, so the policies'
 * content is what is tested): the bucket policy denies writes under audit/ to all
 * but the writer and digester roles, under evidence/ to all but the evidence role,
 * and everywhere else to everyone; the signing key lets only the digester Sign and
 * gives the account administration, not kms:*.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Template } from 'aws-cdk-lib/assertions';
import { SIGNING_KEY_ADMIN_ACTIONS } from '../../../lib/constructs/audit-access.ts';
import { DIGESTER_SERVICE, WRITER_SERVICE } from '../../../lib/constructs/audit-ingest.ts';
import { testApp } from '../../helpers/synth.ts';

interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: { AWS?: unknown } | string;
  Action: string | string[];
  Resource?: unknown;
  NotResource?: unknown[];
  Condition?: Record<string, Record<string, unknown>>;
}

/** A CloudFormation string value as text: Refs and GetAtts become `${…}`, joins are joined. */
function text(v: unknown): string {
  if (typeof v === 'string') return v;
  const o = v as Record<string, unknown>;
  if ('Ref' in o) return `\${${o.Ref}}`;
  if ('Fn::GetAtt' in o) return `\${${(o['Fn::GetAtt'] as string[]).join('.')}}`;
  if ('Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map(text).join(sep);
  }
  throw new Error(`not a string value: ${JSON.stringify(v)}`);
}
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);
const actions = (s: Statement) => list(s.Action) as string[];
const roleArn = (name: string) => `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/${name}`;

const { stacks } = testApp();
const stateful = Template.fromStack(stacks.stateful).toJSON();
const control = Template.fromStack(stacks.controlPlane).toJSON();
const resources = (t: typeof stateful, type: string) =>
  Object.entries(t.Resources as Record<string, { Type: string; Properties: Record<string, any> }>).filter(
    ([, r]) => r.Type === type,
  );

/** RoleName (as text) of the role whose logical id starts with `prefix`. */
function roleName(prefix: string): string {
  const found = resources(control, 'AWS::IAM::Role').filter(([id]) => id.startsWith(prefix));
  assert.equal(found.length, 1, `one role ${prefix}*`);
  return text(found[0]![1].Properties.RoleName);
}

describe('audit bucket policy: who can write', () => {
  const policies = resources(stateful, 'AWS::S3::BucketPolicy').filter(
    ([, r]) => (r.Properties.Bucket as { Ref?: string }).Ref === 'AuditBucketPinned',
  );
  const statements = policies.flatMap(([, r]) => r.Properties.PolicyDocument.Statement as Statement[]);
  const bucketObjects = (prefix: string) => `\${AuditBucketPinned.Arn}/${prefix}*`;
  const writers = (prefix: string) => {
    const s = statements.filter(
      (x) =>
        x.Effect === 'Deny' && x.Resource !== undefined && list(x.Resource).map(text).includes(bucketObjects(prefix)),
    );
    const puts = s.filter((x) => actions(x).includes('s3:PutObject*'));
    assert.equal(puts.length, 1, `one deny of s3:PutObject* under ${prefix}`);
    const d = puts[0]!;
    assert.deepEqual(d.Principal, { AWS: '*' });
    assert.deepEqual(Object.keys(d.Condition ?? {}), ['ArnNotEquals']);
    assert.deepEqual(Object.keys(d.Condition!.ArnNotEquals!), ['aws:PrincipalArn']);
    return list(d.Condition!.ArnNotEquals!['aws:PrincipalArn']).map(text).sort();
  };

  it('under audit/ only the writer and digester roles of the control plane write', () => {
    assert.deepEqual(
      writers('audit/'),
      [roleArn(roleName('AuditIngestDigesterRole')), roleArn(roleName('AuditIngestWriterRole'))].sort(),
    );
  });

  it('under evidence/ only the tombstone evidence role writes', () => {
    assert.deepEqual(writers('evidence/'), [roleArn(roleName('RemediationTombstoneEvidenceRole'))]);
  });

  it('nobody writes anywhere else in the bucket', () => {
    const outside = statements.filter((x) => x.Effect === 'Deny' && x.NotResource !== undefined);
    assert.equal(outside.length, 1);
    assert.deepEqual(actions(outside[0]!), ['s3:PutObject*']);
    assert.deepEqual(outside[0]!.Principal, { AWS: '*' });
    assert.equal(outside[0]!.Condition, undefined);
    assert.deepEqual(outside[0]!.NotResource!.map(text).sort(), [bucketObjects('audit/'), bucketObjects('evidence/')]);
  });

  it('the roles are named, not referenced: the stateful stack imports nothing from the control plane', () => {
    const imports = JSON.stringify(stateful).includes('Fn::ImportValue');
    assert.equal(imports, false);
    for (const prefix of ['AuditIngestWriterRole', 'AuditIngestDigesterRole', 'RemediationTombstoneEvidenceRole']) {
      assert.match(roleName(prefix), /^aidops-dev-\$\{AWS::Region\}-audit-(writer|digester|evidence)$/);
    }
  });
});

describe('audit signing key policy: only the digester signs', () => {
  const keys = resources(stateful, 'AWS::KMS::Key').filter(([, r]) => r.Properties.KeySpec === 'ECC_NIST_P384');
  assert.equal(keys.length, 1);
  const statements = keys[0]![1].Properties.KeyPolicy.Statement as Statement[];
  const digester = roleArn(roleName('AuditIngestDigesterRole'));
  const root = `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:root`;

  it('the account keeps administration only: no kms:*, no Sign, no CreateGrant', () => {
    const admin = statements.filter((s) => s.Effect === 'Allow' && s.Condition === undefined);
    assert.equal(admin.length, 1);
    assert.equal(text((admin[0]!.Principal as { AWS: unknown }).AWS), root);
    assert.deepEqual(actions(admin[0]!).sort(), [...SIGNING_KEY_ADMIN_ACTIONS].sort());
    for (const s of statements.filter((x) => x.Effect === 'Allow')) {
      for (const a of actions(s)) {
        assert.ok(!a.includes('*'), `no wildcard action (${a})`);
        assert.notEqual(a, 'kms:CreateGrant');
      }
    }
  });

  it('Sign is allowed to the digester role only, and denied to every other principal', () => {
    const allowSign = statements.filter((s) => s.Effect === 'Allow' && actions(s).includes('kms:Sign'));
    assert.equal(allowSign.length, 1);
    assert.deepEqual(Object.keys(allowSign[0]!.Condition!), ['ArnEquals']);
    assert.equal(text(allowSign[0]!.Condition!.ArnEquals!['aws:PrincipalArn']), digester);
    const denySign = statements.filter((s) => s.Effect === 'Deny' && actions(s).includes('kms:Sign'));
    assert.equal(denySign.length, 1);
    assert.deepEqual(denySign[0]!.Principal, { AWS: '*' });
    assert.deepEqual(Object.keys(denySign[0]!.Condition!), ['ArnNotEquals']);
    assert.equal(text(denySign[0]!.Condition!.ArnNotEquals!['aws:PrincipalArn']), digester);
  });
});

describe('audit integrity wiring', () => {
  it('the head table has the name the CLI derives from the environment', () => {
    const tables = resources(control, 'AWS::DynamoDB::Table').filter(([id]) => id.startsWith('AuditIngestChainHeads'));
    assert.equal(tables[0]?.[1].Properties.TableName, 'aidops-dev-audit-heads');
  });

  it('writer and digester alarm on integrity failures to the alarm topic, and may put the integrity event on the bus', () => {
    const alarms = resources(control, 'AWS::CloudWatch::Alarm').filter(
      ([, r]) => r.Properties.MetricName === 'AuditIntegrityFailures',
    );
    assert.deepEqual(
      alarms
        .map(([, r]) =>
          (r.Properties.Dimensions as { Name: string; Value: string }[]).map((d) => `${d.Name}=${d.Value}`),
        )
        .sort(),
      [[`service=${DIGESTER_SERVICE}`], [`service=${WRITER_SERVICE}`]],
    );
    const topic = resources(control, 'AWS::SNS::Topic').find(([id]) => id.startsWith('AlarmTopic'))![0];
    for (const [, a] of alarms) {
      assert.deepEqual(a.Properties.AlarmActions, [{ Ref: topic }]);
      assert.equal(a.Properties.Namespace, 'AiDesktopOps');
      assert.equal(a.Properties.Threshold, 0);
    }
    const fns = resources(control, 'AWS::Lambda::Function').filter(([id]) => /^AuditIngest(Writer|Digester)/.test(id));
    assert.equal(fns.length, 2);
    for (const [id, f] of fns) {
      const env = f.Properties.Environment.Variables;
      assert.match(text(env.AUDIT_BUS_NAME), /^\$\{AuditIngestBus[0-9A-F]{8}(\.Name)?\}$/, id);
      assert.ok([WRITER_SERVICE, DIGESTER_SERVICE].includes(env.POWERTOOLS_SERVICE_NAME), id);
      const role = text(f.Properties.Role).replace(/^\$\{|\.Arn\}$/g, '');
      const granted = resources(control, 'AWS::IAM::Policy')
        .filter(([, p]) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role))
        .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[])
        .filter((s) => s.Effect === 'Allow' && actions(s).includes('events:PutEvents'));
      assert.equal(granted.length, 1, `${id} may put events`);
    }
  });
});
