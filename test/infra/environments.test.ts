/**
 * Many environments per account: `dev` and `prod` synthesize side by side and
 * share no physical name (every top-level `*Name` property, SSM parameter and
 * resolver `Name`, export name), their stacks are named apart, and every
 * `aidops-`/`/aidops/` physical name carries its environment.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { names } from '../../lambdas/shared/names.ts';
import { testApp } from '../helpers/synth.ts';

type Json = any;

/**
 * `*Name` properties that are not the resource's own account-wide name: scoped
 * to a parent (an inline policy to its role, a stage to its API), a label
 * (a topic's display name), or a reference to something else (an alarm's
 * metric, an endpoint's AWS service, the bus a rule listens on, e.g. `default`).
 */
const NOT_PHYSICAL = new Set([
  'AWS::IAM::Policy PolicyName',
  'AWS::ApiGateway::Stage StageName',
  'AWS::SNS::Topic DisplayName',
  'AWS::CloudWatch::Alarm MetricName',
  'AWS::EC2::VPCEndpoint ServiceName',
  'AWS::Events::Rule EventBusName',
]);

/** A name as a string: a literal, or a join/sub of literals and pseudo parameters; undefined for any other token. */
function render(v: Json): string | undefined {
  if (typeof v === 'string') return v;
  if (v?.Ref && String(v.Ref).startsWith('AWS::')) return `\${${v.Ref}}`;
  if (typeof v?.['Fn::Sub'] === 'string') return v['Fn::Sub'];
  if (Array.isArray(v?.['Fn::Join'])) {
    const parts = (v['Fn::Join'][1] as Json[]).map(render);
    return parts.every((p) => p !== undefined) ? parts.join(v['Fn::Join'][0]) : undefined;
  }
  return undefined;
}

/** Every physical name of a stack: `type property` → name. */
function physicalNames(stack: Stack): Map<string, string> {
  const tpl = Template.fromStack(stack).toJSON();
  const out = new Map<string, string>();
  for (const [id, r] of Object.entries<Json>(tpl.Resources ?? {})) {
    for (const [k, v] of Object.entries<Json>(r.Properties ?? {})) {
      if (!k.endsWith('Name') || NOT_PHYSICAL.has(`${r.Type} ${k}`)) continue;
      const name = render(v);
      if (name !== undefined) out.set(`${id} (${r.Type} ${k})`, name);
    }
  }
  for (const [id, o] of Object.entries<Json>(tpl.Outputs ?? {})) {
    const name = render(o.Export?.Name);
    if (name !== undefined) out.set(`${id} (export)`, name);
  }
  return out;
}

const built = (environment: string) => {
  const { stacks } = testApp({ environment });
  return [stacks.stateful, stacks.controlPlane];
};
const dev = built('dev');
const prod = built('prod');
const namesIn = (stacks: Stack[]) => new Map(stacks.flatMap((s) => [...physicalNames(s)]));

describe('two environments side by side in one account', () => {
  it('their stacks are named apart', () => {
    const devStacks = new Set(dev.map((s) => s.stackName));
    for (const s of prod) assert.ok(!devStacks.has(s.stackName), `${s.stackName} is in both`);
  });

  it('they share no physical name', () => {
    const d = namesIn(dev);
    const p = namesIn(prod);
    // The comparison is only as good as the names it sees: the well-known ones must be among them.
    for (const [env, found] of [
      ['dev', d],
      ['prod', p],
    ] as const) {
      const n = names(env);
      const all = new Set(found.values());
      for (const want of [
        n.sessionMachine,
        n.tombstoneMachine,
        n.restoreMachine,
        n.snapshotMachine,
        n.scopeGrantMachine,
        n.pluginAdmissionMachine,
        n.sessionTable,
        n.auditHeadTable,
        n.auditBus,
        n.dashboard,
        n.policyParameter,
        n.incidentTableParameter,
        n.dryRunParameter,
        n.peopleDoorUrlParameter,
        n.dataKeyAlias,
        n.digestKeyAlias,
        n.workflowLogGroup(n.sessionMachine),
      ])
        assert.ok(all.has(want), `${env} names ${want}`);
    }
    const devNames = new Map([...d].map(([where, name]) => [name, where]));
    const shared = [...p].filter(([, name]) => devNames.has(name)).map(([where, name]) => `${name}: ${where}`);
    assert.deepEqual(shared, [], 'names in both dev and prod');
  });

  it('every aidops physical name carries its environment', () => {
    for (const [env, stacks] of [
      ['dev', dev],
      ['prod', prod],
    ] as const) {
      const n = names(env);
      for (const [where, name] of namesIn(stacks)) {
        const bare = name.replace(/^alias\//, '').replace(/^\/aws\/vendedlogs\/states\//, '');
        if (!bare.startsWith('aidops') && !bare.startsWith('/aidops')) continue;
        assert.ok(
          bare.startsWith(`${n.prefix}-`) || bare === n.prefix || bare.startsWith(`${n.ssmPrefix}/`),
          `${where}: ${name} lacks the environment ${env}`,
        );
      }
    }
  });
});
