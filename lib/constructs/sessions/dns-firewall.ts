/**
 * The optional Route 53 Resolver DNS Firewall of the session VPC: the profiles'
 * domains and AWS endpoints resolve, every other name is NXDOMAIN.
 */
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as route53resolver from 'aws-cdk-lib/aws-route53resolver';
import type { Construct } from 'constructs';
import type { SessionsConfig } from '../../../lambdas/sessions/tiers.ts';
import { namesOf } from '../../names.ts';

/** Adds the lists, rules and association to `scope` itself: they have fixed names, and keep their logical ids. */
export function addDnsFirewall(scope: Construct, props: { vpc: ec2.IVpc; config: SessionsConfig }): void {
  const domains = [
    ...new Set([...Object.values(props.config.profiles).flatMap((p) => p.domains), '*.amazonaws.com', 'amazonaws.com']),
  ];
  const allow = new route53resolver.CfnFirewallDomainList(scope, 'DnsAllow', {
    domains,
    name: namesOf(scope).dnsAllowList,
  });
  const all = new route53resolver.CfnFirewallDomainList(scope, 'DnsAll', {
    domains: ['*'],
    name: namesOf(scope).dnsAllList,
  });
  const group = new route53resolver.CfnFirewallRuleGroup(scope, 'DnsRules', {
    name: namesOf(scope).dnsRuleGroup,
    firewallRules: [
      { firewallDomainListId: allow.attrId, priority: 100, action: 'ALLOW' },
      { firewallDomainListId: all.attrId, priority: 200, action: 'BLOCK', blockResponse: 'NXDOMAIN' },
    ],
  });
  new route53resolver.CfnFirewallRuleGroupAssociation(scope, 'DnsAssoc', {
    firewallRuleGroupId: group.attrId,
    vpcId: props.vpc.vpcId,
    priority: 101,
    mutationProtection: 'ENABLED',
  });
}
