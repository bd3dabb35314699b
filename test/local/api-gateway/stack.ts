/**
 * A small app for the API Gateway stand-in (the control plane has no REST API
 * yet): a PRIVATE REST API with AWS_IAM methods, a proxy resource, a public
 * (NONE) method, a resource policy that admits one role and one VPC endpoint
 * only, stage and per-method throttling, stage variables, a binary media type,
 * and one Lambda function behind everything (./echo-handler.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { CfnTemplate, SynthesizedStack } from '../../../local/asl/template.ts';

/** The VPC endpoint the resource policy admits (the stand-in's default for this PRIVATE API). */
export const ADMITTED_VPCE = 'vpce-0a1b2c3d4e5f60718';
export const ECHO_ENTRY = 'test/local/api-gateway/echo-handler.ts';

export function apiFixtureStacks(): SynthesizedStack[] {
  const outdir = mkdtempSync(join(tmpdir(), 'aidops-apigw-'));
  try {
    const app = new App({ outdir });
    const stack = new Stack(app, 'ApiStandInFixture');
    const fn = new lambda.Function(stack, 'Echo', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('export const handler = async () => ({ statusCode: 200, body: "" });'),
      environment: { ECHO_MARK: 'from-the-template' },
    });
    const cfn = fn.node.defaultChild as lambda.CfnFunction;
    cfn.addMetadata('aidops:entry', ECHO_ENTRY);
    cfn.addMetadata('aidops:handler', 'handler');

    const guest = new iam.Role(stack, 'GuestRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    new iam.CfnInstanceProfile(stack, 'GuestProfile', { roles: [guest.roleName] });
    new iam.Role(stack, 'OtherRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    const endpoint = ec2.InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(stack, 'Endpoint', {
      vpcEndpointId: ADMITTED_VPCE,
      port: 443,
    });

    const api = new apigw.RestApi(stack, 'Api', {
      cloudWatchRole: false,
      endpointConfiguration: { types: [apigw.EndpointType.PRIVATE], vpcEndpoints: [endpoint] },
      binaryMediaTypes: ['application/octet-stream'],
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      deployOptions: {
        stageName: 'prod',
        variables: { mode: 'fixture' },
        throttlingRateLimit: 1000,
        throttlingBurstLimit: 1000,
        methodOptions: { '/throttled/GET': { throttlingRateLimit: 1, throttlingBurstLimit: 2 } },
      },
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            principals: [new iam.ArnPrincipal(guest.roleArn)],
            actions: ['execute-api:Invoke'],
            resources: ['execute-api:/*'],
          }),
          new iam.PolicyStatement({
            principals: [new iam.AnyPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: ['execute-api:/*/GET/public', 'execute-api:/*/*/throttled'],
          }),
          new iam.PolicyStatement({
            effect: iam.Effect.DENY,
            principals: [new iam.AnyPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: ['execute-api:/*'],
            conditions: { StringNotEquals: { 'aws:SourceVpce': ADMITTED_VPCE } },
          }),
        ],
      }),
    });
    const echo = new apigw.LambdaIntegration(fn);
    const items = api.root.addResource('items');
    items.addMethod('GET', echo);
    const item = items.addResource('{id}');
    item.addMethod('GET', echo);
    item.addMethod('POST', echo);
    api.root.addResource('throttled').addMethod('GET', echo);
    api.root.addResource('public').addMethod('GET', echo, { authorizationType: apigw.AuthorizationType.NONE });
    for (const p of ['boom', 'malformed', 'binary']) api.root.addResource(p).addMethod('GET', echo);
    api.root.addResource('{proxy+}').addMethod('ANY', echo);

    const asm = app.synth();
    return asm.stacks.map((s) => ({ stackName: s.stackName, template: s.template as CfnTemplate }));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
