import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { names } from '../../../lambdas/shared/names.ts';
import { nagFindings, testApp } from '../../helpers/synth.ts';
import { allStates, definitionOf } from '../../helpers/template.ts';
import { PINNED_PROFILES } from '../attestation/vectors.ts';

const { stacks } = testApp();
const t = Template.fromStack(stacks.controlPlane);

/** Every Resource of the IAM policy statements of the resources whose logical id starts with `prefix`. */
function policyResources(template: Template, prefix: string): unknown[] {
  return Object.entries(template.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith(prefix))
    .flatMap(([, p]) =>
      (
        p as { Properties: { PolicyDocument: { Statement: { Resource: unknown }[] } } }
      ).Properties.PolicyDocument.Statement.flatMap((s) => ([] as unknown[]).concat(s.Resource)),
    );
}

describe('session platform (synthesized)', () => {
  it('one launch template per profile: IMDSv2 hop 1, no public IP, encrypted EBS with the data key, no key pair', () => {
    for (const [name, tier] of [
      ['confidential-vm', 'high'],
      ['enclave-parent', 'medium'],
      ['hardened', 'low'],
    ]) {
      const tags = Match.arrayWith([
        { Key: 'aidops:profile', Value: name },
        { Key: 'aidops:tier', Value: tier },
      ]);
      t.hasResourceProperties('AWS::EC2::LaunchTemplate', {
        LaunchTemplateName: names().launchTemplate(name!),
        LaunchTemplateData: Match.objectLike({
          MetadataOptions: Match.objectLike({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 }),
          NetworkInterfaces: [Match.objectLike({ AssociatePublicIpAddress: false })],
          KeyName: Match.absent(),
          BlockDeviceMappings: [
            Match.objectLike({
              Ebs: Match.objectLike({
                Encrypted: true,
                KmsKeyId: { 'Fn::ImportValue': Match.stringLikeRegexp('DataKey') },
              }),
            }),
          ],
          IamInstanceProfile: Match.objectLike({ Arn: Match.anyValue() }),
          InstanceInitiatedShutdownBehavior: 'terminate',
          TagSpecifications: [
            { ResourceType: 'instance', Tags: tags },
            { ResourceType: 'volume', Tags: tags },
          ],
        }),
      });
    }
    t.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateName: names().launchTemplate('confidential-vm'),
      LaunchTemplateData: Match.objectLike({ CpuOptions: { AmdSevSnp: 'enabled' } }),
    });
    t.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateName: names().launchTemplate('enclave-parent'),
      LaunchTemplateData: Match.objectLike({ EnclaveOptions: { Enabled: true } }),
    });
    t.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateName: names().launchTemplate('hardened'),
      LaunchTemplateData: Match.objectLike({ CpuOptions: Match.absent() }),
    });
  });

  // The profile groups' rules (443 to the door's and the SSM agent's endpoints only): guest-door.test.ts.

  it('the session machine waits for attestation with a timeout and heartbeat; the sweeper is scheduled; DNS Firewall is off', () => {
    const states = allStates(definitionOf(t, names().sessionMachine));
    const attest = states.get('Wait for attestation');
    assert.match(attest.Resource, /:states:::aws-sdk:dynamodb:updateItem\.waitForTaskToken$/);
    assert.equal(attest.HeartbeatSeconds, 300);
    assert.equal(attest.TimeoutSeconds, 900);
    assert.equal(states.get('Active: wait for end or TTL').TimeoutSecondsPath, '$.Payload.remainingSeconds');
    t.resourceCountIs('AWS::Route53Resolver::FirewallRuleGroup', 0);
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
    t.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ 'detail-type': ['Parameter Store Change'] }),
    });
  });

  it('IAM names no literal aws partition: every session and attestation ARN is built for the stack partition', () => {
    const resources = [...policyResources(t, 'Sessions'), ...policyResources(t, 'Attestation')];
    assert.ok(resources.length > 50, `found ${resources.length} resources`);
    assert.deepEqual(
      resources.filter((r) => typeof r === 'string' && r.startsWith('arn:aws:')),
      [],
    );
  });

  it('synth warns once per unpinned profile (the shipped defaults), naming the profile and where to pin it', () => {
    const warnings = Annotations.fromStack(stacks.controlPlane).findWarning(
      '*',
      Match.stringLikeRegexp('is unpinned: its attestation accepts any non-debug'),
    );
    const named = warnings.map((w) => /profile (\S+) is unpinned/.exec(String(w.entry.data))?.[1]).sort();
    assert.deepEqual(named, ['confidential-vm', 'enclave-parent', 'hardened']);
    assert.match(String(warnings[0]?.entry.data), /attestationPolicy \(README, Deploy\)/);
    // The admit function carries the flag to every session of such a profile.
    const admit = Object.values(t.findResources('AWS::Lambda::Function')).find(
      (f: any) => f.Properties.Environment?.Variables?.SESSIONS_RUNTIME,
    ) as any;
    assert.match(JSON.stringify(admit.Properties.Environment.Variables.SESSIONS_RUNTIME), /\\"unpinned\\":true/);
  });

  it('pinned profiles synthesize without the warning', () => {
    const { stacks: pinned } = testApp({ sessions: { profiles: PINNED_PROFILES } } as never);
    Annotations.fromStack(pinned.controlPlane).hasNoWarning('*', Match.stringLikeRegexp('is unpinned'));
  });

  // The door function's grants (callbacks on the session machine only, the AMD cache read-only): guest-door.test.ts.

  describe('tombstone on attestation failure, DNS Firewall on', () => {
    const { app, stacks: s } = testApp(
      {
        sessions: {
          onAttestationFailure: 'tombstone',
          dnsFirewall: { enabled: true },
          profiles: { hardened: { domains: ['docs.example.com'] } },
        },
      } as never,
      true,
    );
    const findings = nagFindings(app);
    // Read after the check: a synth with unacknowledged findings throws, and only the check should report them.
    const tt = () => Template.fromStack(s.controlPlane);

    it('every cdk-nag finding is acknowledged (the tombstone start included)', () => {
      assert.deepEqual(findings, [], findings.map((f) => `${f.rule} at ${f.path}`).join('\n'));
    });

    it('an attestation failure starts the tombstone machine (.sync) before teardown', () => {
      const tomb = allStates(definitionOf(tt(), names().sessionMachine)).get('Tombstone the session');
      assert.match(tomb.Resource, /:states:::states:startExecution\.sync:2$/);
      assert.equal(tomb.Next, 'Tombstoned');
    });

    it('DNS Firewall: allow the profiles domains, block the rest', () => {
      const template = tt();
      template.hasResourceProperties('AWS::Route53Resolver::FirewallDomainList', {
        Domains: Match.arrayWith(['docs.example.com']),
      });
      template.hasResourceProperties('AWS::Route53Resolver::FirewallDomainList', { Domains: ['*'] });
      template.resourceCountIs('AWS::Route53Resolver::FirewallRuleGroupAssociation', 1);
    });
  });
});
