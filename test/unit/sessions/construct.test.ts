import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Template } from 'aws-cdk-lib/assertions';
import { testApp } from '../../helpers/synth.ts';

const { stacks } = testApp();
const t = Template.fromStack(stacks.controlPlane);
const templates = Object.values(t.findResources('AWS::EC2::LaunchTemplate')) as any[];
const byName = (n: string) =>
  templates.find((r) => r.Properties.LaunchTemplateName === n)?.Properties.LaunchTemplateData;

describe('session platform (synthesized)', () => {
  it('one launch template per profile: IMDSv2 hop 1, no public IP, encrypted EBS with the data key, no key pair', () => {
    for (const name of ['aidops-confidential-vm', 'aidops-enclave-parent', 'aidops-hardened']) {
      const d = byName(name);
      assert.ok(d, name);
      assert.equal(d.MetadataOptions.HttpTokens, 'required');
      assert.equal(d.MetadataOptions.HttpPutResponseHopLimit, 1);
      assert.equal(d.NetworkInterfaces[0].AssociatePublicIpAddress, false);
      assert.equal(d.KeyName, undefined);
      const ebs = d.BlockDeviceMappings[0].Ebs;
      assert.equal(ebs.Encrypted, true);
      assert.match(JSON.stringify(ebs.KmsKeyId), /DataKey/);
      assert.ok(d.IamInstanceProfile, 'instance profile');
      assert.equal(d.InstanceInitiatedShutdownBehavior, 'terminate');
      const tags = d.TagSpecifications.flatMap((s: any) => s.Tags.map((x: any) => x.Key));
      assert.ok(tags.includes('aidops:tier') && tags.includes('aidops:profile'));
    }
    assert.deepEqual(byName('aidops-confidential-vm').CpuOptions, { AmdSevSnp: 'enabled' });
    assert.deepEqual(byName('aidops-enclave-parent').EnclaveOptions, { Enabled: true });
    assert.equal(byName('aidops-hardened').CpuOptions, undefined);
  });

  it('profile security groups: no inbound, outbound only 443 to the VPC (endpoints)', () => {
    const groups = Object.values(t.findResources('AWS::EC2::SecurityGroup')).filter((g: any) =>
      /sessions: no inbound/.test(g.Properties.GroupDescription),
    ) as any[];
    assert.equal(groups.length, 3);
    for (const g of groups) {
      assert.equal(g.Properties.SecurityGroupIngress, undefined);
      assert.deepEqual(
        g.Properties.SecurityGroupEgress.map((e: any) => [e.IpProtocol, e.FromPort, e.ToPort]),
        [['tcp', 443, 443]],
      );
    }
  });

  it('the session machine waits for attestation with a timeout and heartbeat; the sweeper is scheduled; DNS Firewall is off', () => {
    const m = Object.values(t.findResources('AWS::StepFunctions::StateMachine')).find((r: any) =>
      JSON.stringify(r.Properties.StateMachineName).includes('aidops-session'),
    ) as any;
    const def = JSON.stringify(m.Properties.DefinitionString);
    assert.match(def, /Wait for attestation.*?dynamodb:updateItem\.waitForTaskToken/);
    assert.match(def, /HeartbeatSeconds\\":300/);
    assert.match(def, /TimeoutSeconds\\":900/);
    assert.match(def, /TimeoutSecondsPath\\":\\"\$\.Payload\.remainingSeconds/);
    assert.equal(Object.keys(t.findResources('AWS::Route53Resolver::FirewallRuleGroup')).length, 0);
    const rules = Object.values(t.findResources('AWS::Events::Rule')) as any[];
    assert.ok(rules.some((r) => r.Properties.ScheduleExpression === 'rate(15 minutes)'));
    assert.ok(rules.some((r) => JSON.stringify(r.Properties.EventPattern ?? {}).includes('Parameter Store Change')));
  });

  it('DNS Firewall when enabled: allow the profiles domains, block the rest', () => {
    const { stacks: s } = testApp({
      sessions: { dnsFirewall: { enabled: true }, profiles: { hardened: { domains: ['docs.example.com'] } } },
    } as never);
    const tt = Template.fromStack(s.controlPlane);
    const lists = Object.values(tt.findResources('AWS::Route53Resolver::FirewallDomainList')) as any[];
    assert.ok(lists.some((l) => l.Properties.Domains.includes('docs.example.com')));
    assert.ok(lists.some((l) => l.Properties.Domains.includes('*')));
    assert.equal(Object.keys(tt.findResources('AWS::Route53Resolver::FirewallRuleGroupAssociation')).length, 1);
  });
});
