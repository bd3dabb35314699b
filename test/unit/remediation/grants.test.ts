/**
 * Remediation can act only on session instances: every statement of a remediation
 * role that acts on instances, interfaces or volumes carries the session-tag
 * condition (parsed from the synthesized policies, statement by statement).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Template } from 'aws-cdk-lib/assertions';
import { testApp } from '../../helpers/synth.ts';
import type { Json } from '../../helpers/template.ts';

const { stacks } = testApp();
const t = Template.fromStack(stacks.controlPlane);

/** A resource as text: a string, or an Fn::Join's parts with each token written as `<token>`. */
function tailOf(r: Json): string {
  if (typeof r === 'string') return r;
  const parts = r?.['Fn::Join']?.[1];
  return Array.isArray(parts) ? parts.map((x) => (typeof x === 'string' ? x : '<token>')).join('') : '<token>';
}

const SESSION_RESOURCE = /(^|:)(instance|network-interface|volume)\/\*$/;
/** What must be conditioned wherever it is granted (the write actions on instances, interfaces, volumes). */
const INSTANCE_ACTIONS = [
  'ssm:SendCommand',
  'ec2:StopInstances',
  'ec2:ModifyInstanceAttribute',
  'ec2:ModifyNetworkInterfaceAttribute',
  'ec2:DisassociateIamInstanceProfile',
  'ec2:AssociateIamInstanceProfile',
  'ec2:TerminateInstances',
  'ec2:StartInstances',
  'ec2:CreateReplaceRootVolumeTask',
  'ec2:CreateSnapshots',
];

interface Stmt {
  readonly policy: string;
  readonly actions: string[];
  readonly resources: Json[];
  readonly condition: Json;
}

function remediationStatements(): Stmt[] {
  return Object.entries(t.findResources('AWS::IAM::Policy'))
    .filter(([id]) => /^(Remediation|Snapshot)/.test(id))
    .flatMap(([id, p]: [string, Json]) =>
      (p.Properties.PolicyDocument.Statement as Json[]).map((s) => ({
        policy: id,
        actions: [s.Action].flat(),
        resources: [s.Resource].flat(),
        condition: s.Condition,
      })),
    );
}

describe('remediation grants on instances, interfaces and volumes', () => {
  const statements = remediationStatements();

  it('every statement that names instances, interfaces or volumes is conditioned on the session tag', () => {
    const touching = statements.filter((s) => s.resources.some((r) => SESSION_RESOURCE.test(tailOf(r))));
    assert.ok(touching.length >= 10, `found ${touching.length} statements`);
    const missing = touching
      .filter((s) => s.condition?.StringLike?.['aws:ResourceTag/aidops:session-id'] !== '*')
      .map((s) => `${s.policy}: ${s.actions.join(',')} on ${s.resources.map(tailOf).join(',')}`);
    assert.deepEqual(missing, []);
  });

  it('no instance action is granted on "*" or on an instance/interface/volume pattern without the condition', () => {
    const loose = statements
      .filter((s) => s.actions.some((a) => INSTANCE_ACTIONS.includes(a)))
      .filter((s) =>
        s.resources.some((r) => {
          const tail = tailOf(r);
          if (tail === '*') return true;
          return SESSION_RESOURCE.test(tail) && s.condition?.StringLike?.['aws:ResourceTag/aidops:session-id'] !== '*';
        }),
      )
      .map((s) => `${s.policy}: ${s.actions.join(',')}`);
    assert.deepEqual(loose, []);
    // And each of them is granted somewhere (the test would pass vacuously otherwise).
    const granted = new Set(statements.flatMap((s) => s.actions));
    for (const a of INSTANCE_ACTIONS) assert.ok(granted.has(a), `${a} is granted to a remediation role`);
  });

  it('the unconditioned halves of split grants name only security groups, snapshots, tasks or the shell document', () => {
    const halves = statements.filter(
      (s) =>
        s.actions.some((a) => INSTANCE_ACTIONS.includes(a)) &&
        !s.condition &&
        s.resources.every((r) => !SESSION_RESOURCE.test(tailOf(r))),
    );
    for (const s of halves)
      for (const r of s.resources)
        assert.match(
          tailOf(r),
          /(security-group\/|snapshot\/\*|replace-root-volume-task\/\*|document\/AWS-RunShellScript)/,
          `${s.policy}: ${s.actions.join(',')}`,
        );
  });
});
