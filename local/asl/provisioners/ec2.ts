/** The session network and launch templates: VPC, subnets, security groups and their rules, launch templates. */
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  RevokeSecurityGroupEgressCommand,
} from '@aws-sdk/client-ec2';
import type { ProvisionerTable } from './types.ts';

export const ec2: ProvisionerTable = {
  async 'AWS::EC2::VPC'({ c, type, p }) {
    const v = await c.ec2.send(new CreateVpcCommand({ CidrBlock: p.CidrBlock }));
    return {
      type,
      ref: v.Vpc!.VpcId!,
      attrs: { VpcId: v.Vpc!.VpcId!, CidrBlock: p.CidrBlock, DefaultSecurityGroup: 'sg-local-default' },
    };
  },
  async 'AWS::EC2::Subnet'({ c, type, p }) {
    const s = await c.ec2.send(
      new CreateSubnetCommand({ VpcId: p.VpcId, CidrBlock: p.CidrBlock, AvailabilityZone: p.AvailabilityZone }),
    );
    return {
      type,
      ref: s.Subnet!.SubnetId!,
      attrs: { SubnetId: s.Subnet!.SubnetId!, AvailabilityZone: String(p.AvailabilityZone) },
    };
  },
  async 'AWS::EC2::SecurityGroup'({ c, stack, id, type, p }) {
    const g = await c.ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: String(p.GroupName ?? `${stack.stackName}-${id}`).slice(0, 255),
        Description: String(p.GroupDescription ?? id),
        VpcId: p.VpcId,
      }),
    );
    const gid = g.GroupId!;
    if (Array.isArray(p.SecurityGroupEgress)) {
      // An explicit egress list replaces the default allow-all, as in CloudFormation.
      await c.ec2.send(
        new RevokeSecurityGroupEgressCommand({
          GroupId: gid,
          IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
        }),
      );
      for (const e of p.SecurityGroupEgress)
        await c.ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: gid, IpPermissions: [perm(e)] }));
    }
    for (const i of p.SecurityGroupIngress ?? []) {
      await c.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: gid, IpPermissions: [perm(i)] }));
    }
    return { type, ref: gid, attrs: { GroupId: gid, VpcId: String(p.VpcId ?? '') } };
  },
  async 'AWS::EC2::SecurityGroupEgress'({ c, id, type, p }) {
    await c.ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: p.GroupId, IpPermissions: [perm(p)] }));
    return { type, ref: id, attrs: {} };
  },
  async 'AWS::EC2::SecurityGroupIngress'({ c, id, type, p }) {
    await c.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: p.GroupId, IpPermissions: [perm(p)] }));
    return { type, ref: id, attrs: {} };
  },
  async 'AWS::EC2::LaunchTemplate'({ c, stack, id, type, p }) {
    const name = String(p.LaunchTemplateName ?? `${stack.stackName}-${id}`).slice(0, 128);
    const lt = await c.ec2.send(
      new CreateLaunchTemplateCommand({ LaunchTemplateName: name, LaunchTemplateData: p.LaunchTemplateData }),
    );
    const ltId = lt.LaunchTemplate!.LaunchTemplateId!;
    return {
      type,
      ref: ltId,
      attrs: { LaunchTemplateId: ltId, LaunchTemplateName: name, LatestVersionNumber: '1', DefaultVersionNumber: '1' },
    };
  },
};

/** A CloudFormation security group rule as an EC2 IpPermission. */
function perm(e: any) {
  return {
    IpProtocol: String(e.IpProtocol),
    FromPort: e.FromPort !== undefined ? Number(e.FromPort) : undefined,
    ToPort: e.ToPort !== undefined ? Number(e.ToPort) : undefined,
    IpRanges: e.CidrIp ? [{ CidrIp: e.CidrIp, Description: e.Description }] : undefined,
    Ipv6Ranges: e.CidrIpv6 ? [{ CidrIpv6: e.CidrIpv6 }] : undefined,
    PrefixListIds: e.DestinationPrefixListId ? [{ PrefixListId: e.DestinationPrefixListId }] : undefined,
    UserIdGroupPairs:
      e.DestinationSecurityGroupId || e.SourceSecurityGroupId
        ? [{ GroupId: e.DestinationSecurityGroupId ?? e.SourceSecurityGroupId }]
        : undefined,
  };
}
