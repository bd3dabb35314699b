import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.ts';
import { logsKeyOf } from './logs-key.ts';

export interface SessionNetworkProps {
  /** @default 2 */
  readonly maxAzs?: number;
  /** @default '10.42.0.0/16' */
  readonly cidr?: string;
  /**
   * Interface endpoints in the VPC with no route to the internet (the guests' door's
   * execute-api endpoint is always made). Sessions reach only the SSM agent's channels
   * (SSM, SSM Messages, EC2 Messages) among them.
   * @default SSM, SSM Messages, EC2 Messages, KMS, Secrets Manager, CloudWatch Logs, STS
   */
  readonly interfaceEndpoints?: readonly ec2.InterfaceVpcEndpointAwsService[];
}

/** The endpoints a session's SSM agent talks to: Session Manager (how people reach a desktop) and the freeze's stop-agent. */
const AGENT_CHANNELS: readonly ec2.InterfaceVpcEndpointAwsService[] = [
  ec2.InterfaceVpcEndpointAwsService.SSM,
  ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
  ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
];

/**
 * Where sessions run: private isolated subnets (no NAT, no internet gateway),
 * VPC endpoints (the guests' door's execute-api endpoint among them), flow
 * logs, and the two security groups that isolation uses. Sessions may reach
 * two endpoint groups and nothing else in the VPC: the door's, and the SSM
 * agent's channels.
 */
export class SessionNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  /** The VPC's flow logs (default v2 format, all traffic); the network watch subscribes to it. */
  readonly flowLogs: logs.LogGroup;
  /** The `execute-api` interface endpoint: the only way to the guests' door (a PRIVATE REST API). */
  readonly doorEndpoint: ec2.InterfaceVpcEndpoint;
  /** The security groups of the endpoints sessions may reach on 443: the door's, then the SSM agent channels'. */
  readonly sessionEndpointGroups: readonly ec2.SecurityGroup[];
  /**
   * No rules at all (CDK's placeholder egress matches no traffic). The last
   * group a quarantined instance's interfaces carry.
   */
  readonly quarantineGroup: ec2.SecurityGroup;
  /**
   * Allows everything, attached for a moment during isolation: moving tracked
   * connections to an all-allowing group makes them untracked, so the switch to
   * the quarantine group then cuts them (security-group changes alone do not
   * cut tracked connections).
   */
  readonly isolationTransitionGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: SessionNetworkProps = {}) {
    super(scope, id);
    this.flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.DESTROY,
      encryptionKey: logsKeyOf(this),
    });
    const flowLogs = this.flowLogs;
    const cidr = props.cidr ?? '10.42.0.0/16';
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(cidr),
      maxAzs: props.maxAzs ?? 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'sessions', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 20 }],
      // No session, endpoint or function uses the default group (every launch names its groups);
      // restricting it would add a CDK-provided Lambda on a runtime this project does not control.
      restrictDefaultSecurityGroup: false,
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
    this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    const endpoints = props.interfaceEndpoints ?? [
      ec2.InterfaceVpcEndpointAwsService.SSM,
      ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
      ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
      ec2.InterfaceVpcEndpointAwsService.KMS,
      ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
      ec2.InterfaceVpcEndpointAwsService.STS,
    ];
    const endpointGroup = (id: string, description: string) => {
      const g = new ec2.SecurityGroup(this, id, { vpc: this.vpc, description, allowAllOutbound: false });
      // The literal CIDR (not the VPC's token) so rules and reviewers can read it.
      g.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), 'HTTPS from the session VPC');
      return g;
    };
    const endpointSg = endpointGroup('EndpointGroup', 'VPC interface endpoints: HTTPS from inside the VPC only');
    const agentSg = endpointGroup('AgentChannelGroup', 'SSM agent channel endpoints: HTTPS from inside the VPC only');
    const doorSg = endpointGroup('DoorEndpointGroup', 'execute-api endpoint (guests door): HTTPS from inside the VPC');
    endpoints.forEach((service, i) => {
      const agent = AGENT_CHANNELS.some((a) => a.name === service.name);
      this.vpc.addInterfaceEndpoint(`Endpoint${i}`, {
        service,
        securityGroups: [agent ? agentSg : endpointSg],
        privateDnsEnabled: true,
        open: false,
      });
    });
    // Private DNS: guests call https://API_ID.execute-api.REGION.amazonaws.com/STAGE/… as usual.
    this.doorEndpoint = this.vpc.addInterfaceEndpoint('ExecuteApi', {
      service: ec2.InterfaceVpcEndpointAwsService.APIGATEWAY,
      securityGroups: [doorSg],
      privateDnsEnabled: true,
      open: false,
    });
    this.sessionEndpointGroups = [doorSg, agentSg];

    this.quarantineGroup = new ec2.SecurityGroup(this, 'QuarantineGroup', {
      vpc: this.vpc,
      description: 'ai-desktop-ops quarantine: no inbound, no outbound',
      allowAllOutbound: false,
      disableInlineRules: false,
    });
    this.isolationTransitionGroup = new ec2.SecurityGroup(this, 'IsolationTransitionGroup', {
      vpc: this.vpc,
      description: 'ai-desktop-ops isolation step 1: allow all so tracked connections become untracked',
      allowAllOutbound: true,
    });
    this.isolationTransitionGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.allTraffic(), 'isolation step 1 only');
    acknowledge(
      this.isolationTransitionGroup,
      'CloudFormation-Validate::W2508',
      'All traffic from 0.0.0.0/0 is the point: only rules open in both directions make connections untracked. The group is attached for an instant, in isolated subnets.',
    );
    acknowledge(
      this.isolationTransitionGroup,
      'AwsSolutions-EC23',
      'Attached only for the instant between the two isolation steps, in isolated subnets with no internet route; it makes tracked connections untracked so the quarantine group cuts them.',
    );
  }
}
