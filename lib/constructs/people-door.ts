/**
 * The people's door to the control plane: a REST API for operators (REGIONAL by
 * default, PRIVATE through named VPC endpoints when a team wants it), AWS_IAM on
 * every method, a resource policy that admits only this account's principals (and,
 * when configured, only the operator roles), stage throttling, encrypted access
 * logs, X-Ray. One function (lambdas/doors/people/handlers/door.ts) serves:
 *
 *   POST /v1/approvals/{kind}/{id}/approve|reject   kind: restore, plugin, scope
 *   POST /v1/incidents/tombstone, POST /v1/incidents/restore, GET /v1/incidents/{execution}
 *   PUT  /v1/flags/{capability}
 *
 * The function is the only holder of states:SendTaskSuccess/Failure on the
 * approval machines (restore, plugin admission, scope grant). Its URL is written
 * to SSM (`/aidops/<env>/people-door-url`) for the CLI.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct, type IConstruct } from 'constructs';
import {
  DEFAULT_TWO_PERSON_RULE,
  formatTwoPersonRule,
  type TwoPersonRule,
} from '../../lambdas/doors/people/two-person.ts';
import { acknowledge, grantAcknowledged } from '../nag.ts';
import { namesOf } from '../names.ts';
import { skipCheck } from '../scanners.ts';
import { doorAccessLogFormat } from './door-access-log.ts';
import { AidopsFunction } from './function.ts';
import { logsKeyOf } from './logs-key.ts';
import type { PluginAdmissionWorkflow } from './plugins-workflow.ts';
import type { ScopeGrants } from './scopes.ts';
import { parameterArn } from './sessions/arns.ts';

export const PEOPLE_STAGE = 'people';

/** The door's routes: method and path under `/v1`, and which operator role calls them. */
export const PEOPLE_ROUTES = {
  approve: ['POST', 'approvals/*/*/approve'],
  reject: ['POST', 'approvals/*/*/reject'],
  tombstone: ['POST', 'incidents/tombstone'],
  restore: ['POST', 'incidents/restore'],
  status: ['GET', 'incidents/*'],
  flags: ['PUT', 'flags/*'],
} as const;
export type PeopleRoute = keyof typeof PEOPLE_ROUTES;

export interface PeopleDoorProps {
  readonly auditBus: events.IEventBus;
  readonly incidentTable: dynamodb.ITable;
  /** The incident table's key. */
  readonly incidentKey: kms.IKey;
  readonly restoreMachine: sfn.IStateMachine;
  readonly tombstoneMachine: sfn.IStateMachine;
  readonly pluginAdmission: PluginAdmissionWorkflow;
  /** The plugin approvals table's key. */
  readonly pluginKey: kms.IKey;
  readonly scopes: ScopeGrants;
  readonly scopeKey: kms.IKey;
  readonly flagPrefix: string;
  /** @default DEFAULT_TWO_PERSON_RULE (restore and scope grants) */
  readonly twoPersonRule?: TwoPersonRule;
  /** @default REGIONAL */
  readonly endpointType?: 'REGIONAL' | 'PRIVATE';
  /** PRIVATE only: the execute-api endpoints it is reached through. */
  readonly vpcEndpoints?: readonly ec2.IInterfaceVpcEndpoint[];
  /** The account's API Gateway logging role (its AWS::ApiGateway::Account): the stage waits for it. */
  readonly cloudWatchAccount?: IConstruct;
  /** @default 20 requests/s, burst 40 */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
}

export class PeopleDoor extends Construct {
  readonly fn: AidopsFunction;
  readonly api: apigw.RestApi;
  readonly accessLogs: logs.LogGroup;
  readonly urlParameter: ssm.StringParameter;
  readonly #policy: iam.PolicyDocument;

  constructor(scope: Construct, id: string, props: PeopleDoorProps) {
    super(scope, id);
    this.fn = new AidopsFunction(this, 'Function', {
      entry: 'lambdas/doors/people/handlers/door.ts',
      description: 'People door: approvals (two-person rule), tombstone, restore, status, flags',
      environment: {
        AUDIT_BUS_NAME: props.auditBus.eventBusName,
        INCIDENT_TABLE: props.incidentTable.tableName,
        RESTORE_MACHINE_ARN: props.restoreMachine.stateMachineArn,
        TOMBSTONE_MACHINE_ARN: props.tombstoneMachine.stateMachineArn,
        PLUGIN_APPROVAL_TABLE: props.pluginAdmission.approvals.tableName,
        SCOPE_REQUEST_TABLE: props.scopes.requests.tableName,
        FLAG_PREFIX: props.flagPrefix,
        TWO_PERSON_RULE: formatTwoPersonRule(props.twoPersonRule ?? DEFAULT_TWO_PERSON_RULE),
      },
    });
    this.grant(props);
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.DESTROY,
      encryptionKey: logsKeyOf(this),
    });
    this.#policy = new iam.PolicyDocument();
    this.api = this.restApi(props);
    this.urlParameter = new ssm.StringParameter(this, 'Url', {
      parameterName: namesOf(this).peopleDoorUrlParameter,
      description: 'URL of the ai-desktop-ops people door (the CLI signs its requests to it)',
      stringValue: this.api.url,
    });
  }

  /** `execute-api` ARN of a route on this door's stage, for an identity policy. */
  routeArn(route: PeopleRoute): string {
    const [method, path] = PEOPLE_ROUTES[route];
    return Stack.of(this).formatArn({
      service: 'execute-api',
      resource: this.api.restApiId,
      resourceName: `${PEOPLE_STAGE}/${method}/v1/${path}`,
    });
  }

  /** Admit only these principals (the operator roles): everyone else of the account is denied. */
  admitOnly(principalArns: readonly string[]): void {
    this.#policy.addStatements(
      new iam.PolicyStatement({
        sid: 'DenyAnyoneButTheOperatorRoles',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: ['execute-api:/*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': [...principalArns] } },
      }),
    );
  }

  private grant(props: PeopleDoorProps): void {
    const fn = this.fn.fn;
    props.auditBus.grantPutEventsTo(fn);
    // Approvals: read the parked token, and spend it.
    props.incidentTable.grant(fn, 'dynamodb:GetItem', 'dynamodb:DeleteItem');
    props.incidentKey.grantDecrypt(fn);
    props.pluginAdmission.approvals.grant(fn, 'dynamodb:GetItem', 'dynamodb:DeleteItem');
    props.pluginKey.grantDecrypt(fn);
    props.scopes.grantAnswer(fn);
    props.scopeKey.grantDecrypt(fn);
    // The only SendTask* on the approval machines (scope grants' through grantAnswer).
    props.restoreMachine.grantTaskResponse(fn);
    props.pluginAdmission.machine.stateMachine.grantTaskResponse(fn);
    // Incidents: start, and read an execution's status.
    props.restoreMachine.grantStartExecution(fn);
    props.tombstoneMachine.grantStartExecution(fn);
    const stack = Stack.of(this);
    grantAcknowledged(
      fn.role!,
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
        resources: [namesOf(this).restoreMachine, namesOf(this).tombstoneMachine].map((m) =>
          stack.formatArn({
            service: 'states',
            resource: 'execution',
            resourceName: `${m}:*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ),
      }),
      'Executions are named at run time; only the restore and tombstone machines’ (the status route).',
    );
    const flagPrefix = props.flagPrefix;
    grantAcknowledged(
      fn.role!,
      new iam.PolicyStatement({
        actions: ['ssm:PutParameter', 'ssm:DeleteParameter'],
        resources: [parameterArn(this, `${flagPrefix}/*`)],
      }),
      'Flags are parameters under the flag prefix, one per cohort and capability (the flags route sets them).',
    );
  }

  private restApi(props: PeopleDoorProps): apigw.RestApi {
    const stack = Stack.of(this);
    const invoke = ['execute-api:Invoke'];
    const everything = ['execute-api:/*'];
    const privateApi = props.endpointType === 'PRIVATE';
    this.#policy.addStatements(
      new iam.PolicyStatement({
        sid: 'PrincipalsOfThisAccount',
        principals: [new iam.AccountRootPrincipal()],
        actions: invoke,
        resources: everything,
      }),
      new iam.PolicyStatement({
        sid: 'DenyOtherAccounts',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: invoke,
        resources: everything,
        conditions: { StringNotEquals: { 'aws:PrincipalAccount': stack.account } },
      }),
    );
    if (privateApi)
      this.#policy.addStatements(
        new iam.PolicyStatement({
          sid: 'DenyAnyOtherEndpoint',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: invoke,
          resources: everything,
          conditions: { StringNotEquals: { 'aws:SourceVpce': (props.vpcEndpoints ?? []).map((e) => e.vpcEndpointId) } },
        }),
      );
    const throttle = props.throttle ?? { rateLimit: 20, burstLimit: 40 };
    const api = new apigw.RestApi(this, 'Api', {
      restApiName: `${stack.stackName}-people-door`,
      description: 'ai-desktop-ops people door: operators, SigV4 with their own IAM principal',
      endpointConfiguration: privateApi
        ? { types: [apigw.EndpointType.PRIVATE], vpcEndpoints: [...(props.vpcEndpoints ?? [])] }
        : { types: [apigw.EndpointType.REGIONAL] },
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      // The account's logging role is the guests' door's (one per account and region).
      cloudWatchRole: false,
      policy: this.#policy,
      deployOptions: {
        stageName: PEOPLE_STAGE,
        tracingEnabled: true,
        throttlingRateLimit: throttle.rateLimit,
        throttlingBurstLimit: throttle.burstLimit,
        metricsEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: doorAccessLogFormat(),
      },
    });
    if (props.cloudWatchAccount) api.deploymentStage.node.addDependency(props.cloudWatchAccount);
    const integration = new apigw.LambdaIntegration(this.fn.fn, {
      allowTestInvoke: false,
      timeout: Duration.seconds(29),
    });
    const v1 = api.root.addResource('v1');
    const item = v1.addResource('approvals').addResource('{kind}').addResource('{id}');
    const methods = [
      item.addResource('approve').addMethod('POST', integration),
      item.addResource('reject').addMethod('POST', integration),
    ];
    const incidents = v1.addResource('incidents');
    methods.push(
      incidents.addResource('tombstone').addMethod('POST', integration),
      incidents.addResource('restore').addMethod('POST', integration),
      incidents.addResource('{execution}').addMethod('GET', integration),
      v1.addResource('flags').addResource('{capability}').addMethod('PUT', integration),
    );
    for (const m of methods)
      acknowledge(
        m,
        'AwsSolutions-COG4',
        'Operators sign with their own IAM principal (AWS_IAM); which routes each may call is its role policy.',
      );
    acknowledge(
      api,
      'AwsSolutions-APIG2',
      'Every body is checked by the handler with zod (a typed 400 naming the field); a model here would be a second, weaker copy.',
    );
    acknowledge(
      api,
      'AwsSolutions-APIG3',
      'AWS_IAM on every method and a resource policy admitting only this account (or only the operator roles): unsigned traffic never reaches the function.',
    );
    skipCheck(
      api.deploymentStage.node.defaultChild as apigw.CfnStage,
      'CKV_AWS_120',
      'No cache: every answer is per caller and of the moment (approvals, execution status).',
    );
    return api;
  }
}
