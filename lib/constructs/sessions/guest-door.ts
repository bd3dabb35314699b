/**
 * The guests' door to the control plane: a PRIVATE REST API, reached only
 * through the session VPC's execute-api endpoint, AWS_IAM on every method (the
 * guest signs with its instance-profile credentials), and a resource policy
 * that admits only that endpoint and the session instance role(s) and denies
 * everything else. Stage throttling (one bucket for every caller, as API
 * Gateway keeps it) is the fleet's backstop; each instance's own limit is kept
 * by the handler. Access logs go to an encrypted log group; X-Ray traces.
 *
 * Routes (one function, lambdas/doors/guest/handlers/door.ts): POST /v1/nonce,
 * POST /v1/evidence, GET /v1/session, POST /v1/telemetry, POST /v1/requests,
 * POST /v1/heartbeat. The handler binds the caller (its role session, named
 * after the instance) to the session the table records for that instance.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { INSTANCE_INDEX } from '../../../lambdas/sessions/table.ts';
import type { SessionsConfig } from '../../../lambdas/sessions/tiers.ts';
import { acknowledge, grantAcknowledged, nagResource } from '../../nag.ts';
import { skipCheck } from '../../scanners.ts';
import type { Attestation } from '../attestation.ts';
import { doorAccessLogFormat } from '../door-access-log.ts';
import { AidopsFunction } from '../function.ts';
import { logsKeyOf } from '../logs-key.ts';
import { parameterArn, secretArn, sessionMachineArn } from './arns.ts';

/** The door's routes: method and path under the stage. */
export const GUEST_ROUTES = [
  ['POST', 'nonce'],
  ['POST', 'evidence'],
  ['GET', 'session'],
  ['POST', 'telemetry'],
  ['POST', 'requests'],
  ['POST', 'heartbeat'],
] as const;
export const GUEST_STAGE = 'door';

export interface GuestDoorProps {
  /** The session table (the door adds its instance index). */
  readonly table: dynamodb.Table;
  readonly auditBus: events.IEventBus;
  /** The secrets bundles and the requests table are encrypted with it. */
  readonly dataKey: kms.IKey;
  readonly nonceTable: dynamodb.ITable;
  readonly secretPrefix: string;
  /** The roles whose instance sessions may call the door; nobody else may. */
  readonly instanceRoles: readonly iam.IRole[];
  /** The session VPC's execute-api endpoint: the only way in. */
  readonly endpoint: ec2.IInterfaceVpcEndpoint;
  /** Door limits (`door`), the attestation budget, the flag prefix and cache. */
  readonly config: SessionsConfig;
  /** SSM parameter naming the active policy bundle (reported in the session state). */
  readonly policyParameterName: string;
  /** The verified AMD certificate cache: SEV-SNP evidence without its chain takes it from here (read only). */
  readonly amdCertCache?: Pick<Attestation, 'certCache' | 'amdCertPrefix' | 'amdCertMaxAge' | 'grantReadCache'>;
}

/**
 * The session table's index on `instanceId`, declared on the CloudFormation
 * resource rather than the L2 table: CDK would otherwise add `index/*` to every
 * role granted the table, and only the door queries it (granted by its name).
 */
function addInstanceIndex(table: dynamodb.Table): void {
  const cfn = table.node.defaultChild as dynamodb.CfnTable;
  cfn.addPropertyOverride('AttributeDefinitions', [
    { AttributeName: 'sessionId', AttributeType: 'S' },
    { AttributeName: 'instanceId', AttributeType: 'S' },
  ]);
  cfn.addPropertyOverride('GlobalSecondaryIndexes', [
    {
      IndexName: INSTANCE_INDEX,
      KeySchema: [{ AttributeName: 'instanceId', KeyType: 'HASH' }],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    },
  ]);
}

/** The AWS managed policy CDK gives the account's API Gateway logging role. */
const CLOUDWATCH_LOGS_POLICY = 'service-role/AmazonAPIGatewayPushToCloudWatchLogs';

export class GuestDoor extends Construct {
  readonly fn: AidopsFunction;
  readonly api: apigw.RestApi;
  /** Pending approval requests (staged writes, scopes), by session; the people's door answers them. */
  readonly requests: dynamodb.Table;
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: GuestDoorProps) {
    super(scope, id);
    const cfg = props.config;
    addInstanceIndex(props.table);

    this.requests = new dynamodb.Table(this, 'Requests', {
      partitionKey: { name: 'sessionId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'requestId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'purgeAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.dataKey,
      // Kept on stack deletion, like every table of the control plane: pending approvals are in it.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.fn = new AidopsFunction(this, 'Function', {
      entry: 'lambdas/doors/guest/handlers/door.ts',
      description: 'Guests door: nonce, evidence, session state, telemetry, approval requests, heartbeat',
      environment: {
        SESSION_TABLE: props.table.tableName,
        AUDIT_BUS_NAME: props.auditBus.eventBusName,
        NONCE_TABLE: props.nonceTable.tableName,
        NONCE_TTL_SECONDS: String(cfg.attestation.timeoutSeconds),
        SECRET_PREFIX: props.secretPrefix,
        INSTANCE_ROLE_NAMES: props.instanceRoles.map((r) => r.roleName).join(','),
        REQUEST_TABLE: this.requests.tableName,
        FLAG_PREFIX: cfg.flagPrefix,
        FLAG_CACHE_SECONDS: String(cfg.flagCacheSeconds),
        POLICY_PARAMETER: props.policyParameterName,
        CALLER_REQUESTS: String(cfg.door.callerRequests),
        CALLER_WINDOW_SECONDS: String(cfg.door.callerWindowSeconds),
        ...(props.amdCertCache
          ? {
              AMD_CERT_BUCKET: props.amdCertCache.certCache.bucketName,
              AMD_CERT_PREFIX: props.amdCertCache.amdCertPrefix,
              AMD_CERT_MAX_AGE_HOURS: String(props.amdCertCache.amdCertMaxAge.toHours()),
            }
          : {}),
      },
    });
    this.grant(props);

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.DESTROY,
      encryptionKey: logsKeyOf(this),
    });
    this.api = this.restApi(props);
  }

  private grant(props: GuestDoorProps): void {
    const fn = this.fn.fn;
    props.table.grantReadWriteData(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${props.table.tableArn}/index/${INSTANCE_INDEX}`],
      }),
    );
    props.auditBus.grantPutEventsTo(fn);
    props.nonceTable.grantReadWriteData(fn);
    this.requests.grantReadWriteData(fn);
    props.dataKey.grantDecrypt(fn);
    props.amdCertCache?.grantReadCache(fn);
    grantAcknowledged(
      fn.role!,
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [secretArn(this, `${props.secretPrefix}*`)],
      }),
      'Session bundles are named by session id under the prefix. Created at run time (one per session); ids cannot be known at deploy.',
    );
    // Step Functions authorizes SendTask* against the ARN of the state machine that issued the
    // token (its AccessDenied names `stateMachine:<name>`; CDK's grantTaskResponse scopes the same
    // way), even though the Service Authorization Reference lists no resource type for them.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        resources: [sessionMachineArn(this)],
      }),
    );
    const flagPrefix = props.config.flagPrefix;
    grantAcknowledged(
      fn.role!,
      new iam.PolicyStatement({
        actions: ['ssm:GetParametersByPath'],
        resources: [parameterArn(this, flagPrefix), parameterArn(this, `${flagPrefix}/*`)],
      }),
      'Flags are parameters under the flag prefix, one per cohort and capability (the session state reports them).',
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter'],
        resources: [parameterArn(this, props.policyParameterName)],
      }),
    );
  }

  private restApi(props: GuestDoorProps): apigw.RestApi {
    const door = props.config.door;
    const invoke = ['execute-api:Invoke'];
    const everything = ['execute-api:/*'];
    const vpce = props.endpoint.vpcEndpointId;
    const roleArns = props.instanceRoles.map((r) => r.roleArn);
    const api = new apigw.RestApi(this, 'Api', {
      restApiName: `${Stack.of(this).stackName}-guest-door`,
      description: 'ai-desktop-ops guests door: session instances, SigV4 with their instance-profile role',
      endpointConfiguration: { types: [apigw.EndpointType.PRIVATE], vpcEndpoints: [props.endpoint] },
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      // The account's API Gateway logging role (one per account and region; kept on deletion).
      cloudWatchRole: true,
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: 'SessionInstancesThroughTheSessionEndpoint',
            principals: roleArns.map((a) => new iam.ArnPrincipal(a)),
            actions: invoke,
            resources: everything,
            conditions: { StringEquals: { 'aws:SourceVpce': vpce } },
          }),
          new iam.PolicyStatement({
            sid: 'DenyAnyOtherEndpoint',
            effect: iam.Effect.DENY,
            principals: [new iam.AnyPrincipal()],
            actions: invoke,
            resources: everything,
            conditions: { StringNotEquals: { 'aws:SourceVpce': vpce } },
          }),
          new iam.PolicyStatement({
            sid: 'DenyAnyOtherPrincipal',
            effect: iam.Effect.DENY,
            principals: [new iam.AnyPrincipal()],
            actions: invoke,
            resources: everything,
            conditions: { ArnNotEquals: { 'aws:PrincipalArn': roleArns } },
          }),
        ],
      }),
      deployOptions: {
        stageName: GUEST_STAGE,
        tracingEnabled: true,
        // One bucket for all callers (API Gateway's stage limit): the fleet's backstop.
        throttlingRateLimit: door.stageRateLimit,
        throttlingBurstLimit: door.stageBurstLimit,
        metricsEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        // Bodies carry evidence and sealed secrets: never in the execution logs.
        dataTraceEnabled: false,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: doorAccessLogFormat({ vpceId: '$context.identity.vpceId' }),
      },
    });
    const integration = new apigw.LambdaIntegration(this.fn.fn, {
      allowTestInvoke: false,
      timeout: Duration.seconds(29),
    });
    const v1 = api.root.addResource('v1');
    for (const [method, path] of GUEST_ROUTES) {
      const m = v1.addResource(path).addMethod(method, integration);
      acknowledge(
        m,
        'AwsSolutions-COG4',
        'Guests are EC2 instances, not people: they sign with their instance-profile role (AWS_IAM), which the resource policy names.',
      );
    }

    acknowledge(
      api,
      'AwsSolutions-APIG2',
      'Every body is checked by the handler with zod (a typed 400 naming the field, audited for evidence); a model here would be a second, weaker copy.',
    );
    acknowledge(
      api,
      'AwsSolutions-APIG3',
      'PRIVATE endpoint reached only through the session VPC endpoint, SigV4 from an admitted role only (resource policy), per-caller and stage limits: nothing internet-facing for a web ACL to filter.',
    );
    const logsRole = api.node.findChild('CloudWatchRole');
    acknowledge(
      logsRole,
      `AwsSolutions-IAM4[Policy::${nagResource(logsRole, iam.ManagedPolicy.fromAwsManagedPolicyName(CLOUDWATCH_LOGS_POLICY).managedPolicyArn)}]`,
      'API Gateway account logging role: the AWS managed AmazonAPIGatewayPushToCloudWatchLogs policy is what the service documents for it.',
    );
    const stage = api.deploymentStage.node.defaultChild as apigw.CfnStage;
    skipCheck(
      stage,
      'CKV_AWS_120',
      'No cache: every answer is per caller and of the moment (nonces, sealed secrets, session state).',
    );
    return api;
  }
}
