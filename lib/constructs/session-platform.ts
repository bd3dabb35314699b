/**
 * Confidential desktop sessions, composed: the session table, the profiles
 * (instance role, egress groups, launch templates), the workflow's functions and
 * state machine, the guests' door (a private REST API), the flag-change auditor, the orphan
 * sweeper, and (optionally) a Route 53 Resolver DNS Firewall domain allowlist.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { SessionsConfig } from '../../lambdas/sessions/tiers.ts';
import { namesOf } from '../names.ts';
import { Attestation } from './attestation.ts';
import type { SessionNetwork } from './network.ts';
import { addDnsFirewall } from './sessions/dns-firewall.ts';
import { addFlagAudit, type FlagAudit } from './sessions/flag-audit.ts';
import { addSessionFunctions, type SessionFunctions } from './sessions/functions.ts';
import { GuestDoor } from './sessions/guest-door.ts';
import { addSessionProfiles, type SessionProfiles } from './sessions/profiles.ts';
import { OrphanSweeper } from './sessions/sweeper.ts';
import { SessionWorkflow } from './sessions/workflow.ts';

export interface SessionPlatformProps {
  readonly network: SessionNetwork;
  /** Encrypts session volumes, the session table and the secrets bundles. */
  readonly dataKey: kms.IKey;
  /** Checked tiers/profiles config (lambdas/sessions/tiers.ts `parseSessionsConfig`). */
  readonly config: SessionsConfig;
  /** @default no alarm action */
  readonly alarmTopic?: sns.ITopic;
  /** Audit bus every step publishes to. @default the bus named `aidops-<env>-audit` (AuditIngest's default) */
  readonly auditBus?: events.IEventBus;
  /**
   * The attestation capability's state: nonce table, secret prefix, AMD certificate cache.
   * @default a new `Attestation` construct inside this one
   */
  readonly attestation?: Attestation;
  /** SSM parameter of the active policy; its version is tagged on sessions. @default the environment's `/aidops/<env>/policy/active` */
  readonly policyParameterName?: string;
  /** @default the environment's `aidops-<env>-sessions` */
  readonly tableName?: string;
}

export class SessionPlatform extends Construct {
  readonly table: dynamodb.Table;
  readonly profiles: SessionProfiles;
  readonly functions: SessionFunctions;
  readonly workflow: SessionWorkflow;
  /** The guests' door: a private REST API, SigV4 from the session instance role through the session VPC's endpoint only. */
  readonly guestDoor: GuestDoor;
  readonly flagAudit: FlagAudit;
  readonly sweeper: OrphanSweeper;
  readonly attestation?: Attestation;
  readonly auditBus: events.IEventBus;

  constructor(scope: Construct, id: string, props: SessionPlatformProps) {
    super(scope, id);
    const cfg = props.config;
    const vpc = props.network.vpc;
    this.auditBus = props.auditBus ?? events.EventBus.fromEventBusName(this, 'AuditBus', namesOf(this).auditBus);
    const attestation =
      props.attestation ??
      new Attestation(this, 'Attestation', { key: props.dataKey, removalPolicy: RemovalPolicy.DESTROY });
    if (!props.attestation) this.attestation = attestation;
    const { table: nonceTable, secretPrefix } = attestation;

    this.table = new dynamodb.Table(this, 'Sessions', {
      tableName: props.tableName ?? namesOf(this).sessionTable,
      partitionKey: { name: 'sessionId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'purgeAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.dataKey,
      // Kept on stack deletion, like every table of the control plane: live sessions' tokens are in it.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const common = { table: this.table, auditBus: this.auditBus, dataKey: props.dataKey, nonceTable, secretPrefix };
    this.profiles = addSessionProfiles(this, {
      vpc,
      endpointGroups: props.network.sessionEndpointGroups,
      dataKey: props.dataKey,
      config: cfg,
    });
    const policyParameterName = props.policyParameterName ?? namesOf(this).policyParameter;
    this.functions = addSessionFunctions(this, {
      ...common,
      config: cfg,
      profiles: this.profiles,
      vpc,
      policyParameterName,
    });
    this.guestDoor = new GuestDoor(this, 'GuestDoor', {
      ...common,
      instanceRoles: [this.profiles.instanceRole],
      endpoint: props.network.doorEndpoint,
      config: cfg,
      policyParameterName,
      amdCertCache: attestation,
    });
    this.flagAudit = addFlagAudit(this, { auditBus: this.auditBus, flagPrefix: cfg.flagPrefix });
    this.workflow = new SessionWorkflow(this, 'Workflow', {
      functions: this.functions.workflow,
      table: this.table,
      config: cfg,
      alarmTopic: props.alarmTopic,
    });
    this.sweeper = new OrphanSweeper(this, 'Sweeper', {
      table: this.table,
      auditBus: this.auditBus,
      secretPrefix,
      dryRun: cfg.sweeper.dryRun,
      rate: Duration.minutes(cfg.sweeper.rateMinutes),
      grace: Duration.seconds(cfg.sweeper.graceSeconds),
    });
    if (cfg.dnsFirewall.enabled) addDnsFirewall(this, { vpc, config: cfg });
  }

  /** The role every session instance runs with (remediation revokes its sessions by this ARN). */
  get instanceRole(): iam.Role {
    return this.profiles.instanceRole;
  }
}
