/**
 * A realistic session for the remediation tests, benchmark and game day: an
 * instance in the session VPC with its own security group, an instance profile
 * whose role is per session, a data volume that would be deleted on termination,
 * an elastic IP, and a session secret. Everything tombstone touches exists.
 */
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AuthorizeSecurityGroupEgressCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  IAMClient,
} from '@aws-sdk/client-iam';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Tags } from '../lambdas/shared/tags.ts';
import type { LocalRuntime } from './runtime.ts';

/** An AMI moto knows; in AWS each profile names its images. */
export const FIXTURE_AMI = 'ami-12c6146b';

export interface FixtureSession {
  readonly sessionId: string;
  readonly instanceId: string;
  readonly sessionGroupId: string;
  readonly eniIds: string[];
  readonly roleName: string;
  readonly profileArn: string;
  readonly secretArn: string;
  readonly allocationId: string;
}

export function sessionSubnet(rt: LocalRuntime): string {
  for (const [id, p] of rt.provisioned.resources) {
    if (p.type === 'AWS::EC2::Subnet' && id.startsWith('NetworkVpc')) return p.ref;
  }
  throw new Error('no session subnet in the synthesized app');
}

export function sessionVpc(rt: LocalRuntime): string {
  for (const [id, p] of rt.provisioned.resources)
    if (p.type === 'AWS::EC2::VPC' && id.startsWith('NetworkVpc')) return p.ref;
  throw new Error('no session VPC in the synthesized app');
}

export async function launchFixtureSession(
  rt: LocalRuntime,
  sessionId: string,
  opts: { profile?: string } = {},
): Promise<FixtureSession> {
  const cfg = rt.clientConfig();
  const ec2 = new EC2Client(cfg);
  const iam = new IAMClient(cfg);
  const sm = new SecretsManagerClient(cfg);
  const sg = await ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: `session-${sessionId}`,
      Description: `session ${sessionId}`,
      VpcId: sessionVpc(rt),
    }),
  );
  await ec2.send(
    new AuthorizeSecurityGroupEgressCommand({
      GroupId: sg.GroupId!,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.42.0.0/16' }] }],
    }),
  );
  const roleName = `aidops-session-${sessionId}`.slice(0, 64);
  await iam.send(
    new CreateRoleCommand({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
    }),
  );
  const profile = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: roleName }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: roleName, RoleName: roleName }));
  const r = await ec2.send(
    new RunInstancesCommand({
      ImageId: FIXTURE_AMI,
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 'm6a.large',
      SubnetId: sessionSubnet(rt),
      SecurityGroupIds: [sg.GroupId!],
      IamInstanceProfile: { Arn: profile.InstanceProfile!.Arn! },
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: [
            { Key: Tags.SessionId, Value: sessionId },
            { Key: Tags.Profile, Value: opts.profile ?? 'standard' },
          ],
        },
      ],
      // moto makes no root volume when mappings are given, so name the root explicitly.
      BlockDeviceMappings: ['/dev/xvda', '/dev/sdf'].map((d) => ({
        DeviceName: d,
        Ebs: { VolumeSize: 8, Encrypted: true, DeleteOnTermination: true },
      })),
    }),
  );
  const instanceId = r.Instances![0]!.InstanceId!;
  const secret = await sm.send(
    new CreateSecretCommand({
      Name: `aidops/session/${sessionId}/agent-token`,
      SecretString: 'token-for-the-agent',
      Tags: [{ Key: Tags.SessionId, Value: sessionId }],
    }),
  );
  const eip = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
  await ec2.send(new AssociateAddressCommand({ AllocationId: eip.AllocationId!, InstanceId: instanceId }));
  const eniIds = await enisOf(ec2, instanceId);
  return {
    sessionId,
    instanceId,
    sessionGroupId: sg.GroupId!,
    eniIds,
    roleName,
    profileArn: profile.InstanceProfile!.Arn!,
    secretArn: secret.ARN!,
    allocationId: eip.AllocationId!,
  };
}

export async function enisOf(ec2: EC2Client, instanceId: string): Promise<string[]> {
  const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return (d.Reservations?.[0]?.Instances?.[0]?.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId!);
}

/** Groups of each interface of the instance, as EC2 reports them now. */
export async function groupsOf(ec2: EC2Client, instanceId: string): Promise<Record<string, string[]>> {
  const ids = await enisOf(ec2, instanceId);
  const d = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ids }));
  return Object.fromEntries(
    (d.NetworkInterfaces ?? []).map((n) => [n.NetworkInterfaceId!, (n.Groups ?? []).map((g) => g.GroupId!)]),
  );
}
