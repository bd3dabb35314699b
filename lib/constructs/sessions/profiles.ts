/**
 * Session profiles: the least-privilege instance role every session runs with,
 * and per profile an egress security group (no inbound; outbound only to the
 * guests' door and SSM agent endpoints, and the profile's allowlist) and a launch template (IMDSv2 only, hop
 * limit 1, no public IP, EBS encrypted with the data key, no key pair, the
 * profile's isolation: SEV-SNP or Nitro Enclaves).
 */
import { Annotations, Tags as CdkTags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { SessionsConfig } from '../../../lambdas/sessions/tiers.ts';
import { Tags } from '../../../lambdas/shared/tags.ts';
import { grantAcknowledged } from '../../nag.ts';
import { namesOf } from '../../names.ts';
import { skipCheck } from '../../scanners.ts';

export interface SessionProfilesProps {
  readonly vpc: ec2.IVpc;
  /** The endpoints' groups sessions may reach on 443 (the guests' door, the SSM agent channels); nothing else in the VPC. */
  readonly endpointGroups: readonly ec2.ISecurityGroup[];
  /** Encrypts the session volumes. */
  readonly dataKey: kms.IKey;
  readonly config: SessionsConfig;
}

export interface ProfileResources {
  readonly securityGroup: ec2.SecurityGroup;
  readonly launchTemplate: ec2.LaunchTemplate;
}

export interface SessionProfiles {
  /** What the SSM agent needs to offer the desktop, nothing else. */
  readonly instanceRole: iam.Role;
  readonly byName: Readonly<Record<string, ProfileResources>>;
}

/**
 * Adds the instance role and each profile's group and template to `scope`
 * itself (not a construct level of its own): they keep the logical ids they were
 * deployed with, and launch templates have fixed names a replacement would collide with.
 */
export function addSessionProfiles(scope: Construct, props: SessionProfilesProps): SessionProfiles {
  const instanceRole = new iam.Role(scope, 'InstanceRole', {
    assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
    description: 'ai-desktop-ops session instances: SSM agent channels only',
  });
  grantAcknowledged(
    instanceRole,
    new iam.PolicyStatement({
      actions: [
        'ssm:UpdateInstanceInformation',
        'ssmmessages:CreateControlChannel',
        'ssmmessages:CreateDataChannel',
        'ssmmessages:OpenControlChannel',
        'ssmmessages:OpenDataChannel',
      ],
      resources: ['*'],
    }),
    'The SSM agent channel APIs (ssmmessages:*, ssm:UpdateInstanceInformation) take no resource ARNs.',
  );
  skipCheck(
    instanceRole.node.findChild('DefaultPolicy'),
    'CKV_AWS_111',
    "The SSM agent's channel APIs (as in AmazonSSMManagedInstanceCore) take no resource ARNs; the role has nothing else with a wildcard.",
  );

  const cfg = props.config;
  const byName: Record<string, ProfileResources> = {};
  for (const [name, p] of Object.entries(cfg.profiles)) {
    const tier = Object.entries(cfg.tiers).find(([, prof]) => prof === name)?.[0] ?? 'none';
    const securityGroup = new ec2.SecurityGroup(scope, `Egress-${name}`, {
      vpc: props.vpc,
      description: `ai-desktop-ops ${name} sessions: no inbound; outbound only to the allowlist`,
      allowAllOutbound: false,
    });
    // The guests' door and the SSM agent's channels, by their endpoints' groups: no other address in the VPC.
    for (const g of props.endpointGroups)
      securityGroup.addEgressRule(g, ec2.Port.tcp(443), `HTTPS to ${g.node.id} (VPC endpoints)`);
    for (const e of p.egress)
      securityGroup.addEgressRule(
        ec2.Peer.ipv4(e.cidr),
        e.protocol === 'udp' ? ec2.Port.udp(e.port) : ec2.Port.tcp(e.port),
        e.description,
      );
    const launchTemplate = new ec2.LaunchTemplate(scope, `Template-${name}`, {
      launchTemplateName: namesOf(scope).launchTemplate(name),
      role: instanceRole,
      securityGroup,
      requireImdsv2: true,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: 1,
      httpEndpoint: true,
      instanceMetadataTags: false,
      associatePublicIpAddress: false,
      // No keyPair: access is through SSM Session Manager only.
      nitroEnclaveEnabled: p.isolation === 'nitro-enclave',
      instanceInitiatedShutdownBehavior: ec2.InstanceInitiatedShutdownBehavior.TERMINATE,
      detailedMonitoring: true,
      ebsOptimized: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(p.rootVolumeGiB, {
            encrypted: true,
            kmsKey: props.dataKey,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
    });
    const cfn = launchTemplate.node.defaultChild as ec2.CfnLaunchTemplate;
    if (p.isolation === 'sev-snp') cfn.addPropertyOverride('LaunchTemplateData.CpuOptions.AmdSevSnp', 'enabled');
    // Tags on the template propagate to instances and volumes at launch (TagSpecifications).
    CdkTags.of(launchTemplate).add(Tags.Tier, tier);
    CdkTags.of(launchTemplate).add(Tags.Profile, name);
    CdkTags.of(launchTemplate).add(Tags.ManagedBy, 'ai-desktop-ops');
    if (p.unpinned)
      Annotations.of(launchTemplate).addWarningV2(
        'aidops:attestation-unpinned',
        `profile ${name} is unpinned: its attestation accepts any non-debug ${p.evidenceType} image. Set the ` +
          `image's measurements in profiles.${name}.attestationPolicy (README, Deploy); until then every ` +
          'attestation event of its sessions says unpinned.',
      );
    byName[name] = { securityGroup, launchTemplate };
  }
  return { instanceRole, byName };
}
