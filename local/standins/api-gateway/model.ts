/**
 * The REST APIs of the synthesized templates, read as API Gateway would deploy
 * them: resources and their paths, methods (authorization, integration), stages
 * (variables, method settings), the resource policy, endpoint type and VPC
 * endpoints, binary media types, and the Lambda permissions that let API
 * Gateway invoke a function. Properties are resolved against what the local
 * runtime provisioned, so ids and ARNs are the local ones.
 */
import type { Provisioned } from '../../asl/provisioners/types.ts';
import { type CfnResource, resolve, type SynthesizedStack } from '../../asl/template.ts';
import type { MethodSetting } from './throttle.ts';

export interface IntegrationModel {
  readonly type: string;
  /** For AWS_PROXY to Lambda: the function's ARN (from the integration URI). */
  readonly functionArn?: string;
  readonly timeoutMs: number;
}

export interface MethodModel {
  readonly logicalId: string;
  readonly resourceId: string;
  /** The template path, e.g. `/items/{id}` (what the event calls `resource`). */
  readonly resourcePath: string;
  /** A verb or ANY. */
  readonly httpMethod: string;
  readonly authorizationType: string;
  readonly apiKeyRequired: boolean;
  readonly integration?: IntegrationModel;
}

export interface ResourceNode {
  readonly id: string;
  readonly pathPart: string;
  readonly path: string;
  readonly children: ResourceNode[];
  readonly methods: Map<string, MethodModel>;
}

export interface StageModel {
  readonly name: string;
  readonly deploymentId: string;
  readonly variables: Readonly<Record<string, string>>;
  readonly methodSettings: readonly MethodSetting[];
}

export interface LambdaPermissionModel {
  readonly functionName: string;
  readonly principal: string;
  readonly action: string;
  readonly sourceArn?: string;
}

export interface RestApiModel {
  readonly logicalId: string;
  readonly stackName: string;
  readonly id: string;
  readonly name: string;
  readonly endpointType: string;
  readonly vpcEndpointIds: readonly string[];
  readonly policy?: unknown;
  readonly binaryMediaTypes: readonly string[];
  readonly root: ResourceNode;
  readonly stages: ReadonlyMap<string, StageModel>;
  /** Every API Gateway → Lambda permission in the templates. */
  readonly permissions: readonly LambdaPermissionModel[];
  /** Execute-api interface endpoints in the templates (their local ids). */
  readonly executeApiEndpoints: readonly string[];
}

type Props = Record<string, any>;

/** `arn:…:function:NAME[:qualifier]` or a name → the name. */
export function functionNameOf(ref: string): string {
  return ref.includes(':function:') ? ref.split(':function:')[1]!.split(':')[0]! : ref;
}

export function hasRestApis(stacks: readonly SynthesizedStack[]): boolean {
  return stacks.some((s) => Object.values(s.template.Resources).some((r) => r.Type === 'AWS::ApiGateway::RestApi'));
}

export function restApisOf(stacks: readonly SynthesizedStack[], provisioned: Provisioned): RestApiModel[] {
  const all: { stack: SynthesizedStack; id: string; r: CfnResource; p: Props }[] = [];
  for (const stack of stacks) {
    const ctx = { resources: provisioned.resources, exports: provisioned.exports, stackName: stack.stackName };
    for (const [id, r] of Object.entries(stack.template.Resources)) {
      const interesting =
        r.Type.startsWith('AWS::ApiGateway::') ||
        r.Type === 'AWS::Lambda::Permission' ||
        r.Type === 'AWS::EC2::VPCEndpoint';
      if (interesting) all.push({ stack, id, r, p: resolve(r.Properties ?? {}, ctx) as Props });
    }
  }
  const ofType = (t: string) => all.filter((x) => x.r.Type === t);
  const ref = (logicalId: string) => provisioned.resources.get(logicalId);
  const permissions: LambdaPermissionModel[] = ofType('AWS::Lambda::Permission').map(({ p }) => ({
    functionName: functionNameOf(String(p.FunctionName)),
    principal: String(p.Principal),
    action: String(p.Action),
    sourceArn: p.SourceArn === undefined ? undefined : String(p.SourceArn),
  }));
  const executeApiEndpoints = ofType('AWS::EC2::VPCEndpoint')
    .filter(({ p }) => String(p.ServiceName ?? '').endsWith('.execute-api'))
    .map(({ id }) => ref(id)?.ref ?? id);

  return ofType('AWS::ApiGateway::RestApi').map(({ stack, id: logicalId, p }) => {
    const phys = ref(logicalId)!;
    const apiId = phys.ref;
    const root: ResourceNode = {
      id: phys.attrs.RootResourceId!,
      pathPart: '',
      path: '/',
      children: [],
      methods: new Map(),
    };
    const nodes = new Map<string, ResourceNode>([[root.id, root]]);
    // Resources in parent-first order (a child may be declared before its parent).
    const pending = ofType('AWS::ApiGateway::Resource').filter((x) => x.p.RestApiId === apiId);
    while (pending.length > 0) {
      const i = pending.findIndex((x) => nodes.has(String(x.p.ParentId)));
      if (i < 0)
        throw new Error(`REST API ${logicalId}: resources ${pending.map((x) => x.id).join(', ')} have no parent`);
      const [{ id, p: rp }] = pending.splice(i, 1) as [(typeof pending)[number]];
      const parent = nodes.get(String(rp.ParentId))!;
      const pathPart = String(rp.PathPart);
      const node: ResourceNode = {
        id: ref(id)!.ref,
        pathPart,
        path: parent.path === '/' ? `/${pathPart}` : `${parent.path}/${pathPart}`,
        children: [],
        methods: new Map(),
      };
      parent.children.push(node);
      nodes.set(node.id, node);
    }
    for (const { id, p: mp } of ofType('AWS::ApiGateway::Method').filter((x) => x.p.RestApiId === apiId)) {
      const node = nodes.get(String(mp.ResourceId));
      if (!node) throw new Error(`REST API ${logicalId}: method ${id} is on an unknown resource`);
      const integ = mp.Integration as Props | undefined;
      const uri = String(integ?.Uri ?? '');
      const fn = /:lambda:path\/[^/]+\/functions\/(.+)\/invocations$/.exec(uri)?.[1];
      const method: MethodModel = {
        logicalId: id,
        resourceId: node.id,
        resourcePath: node.path,
        httpMethod: String(mp.HttpMethod).toUpperCase(),
        authorizationType: String(mp.AuthorizationType ?? 'NONE'),
        apiKeyRequired: mp.ApiKeyRequired === true || mp.ApiKeyRequired === 'true',
        integration: integ
          ? { type: String(integ.Type), functionArn: fn, timeoutMs: Number(integ.TimeoutInMillis ?? 29_000) }
          : undefined,
      };
      node.methods.set(method.httpMethod, method);
    }
    const stages = new Map<string, StageModel>();
    for (const { p: sp } of ofType('AWS::ApiGateway::Stage').filter((x) => x.p.RestApiId === apiId)) {
      stages.set(String(sp.StageName), {
        name: String(sp.StageName),
        deploymentId: String(sp.DeploymentId),
        variables: (sp.Variables ?? {}) as Record<string, string>,
        methodSettings: (sp.MethodSettings ?? []) as MethodSetting[],
      });
    }
    // A deployment may make its stage itself (StageName on the deployment).
    for (const { id, p: dp } of ofType('AWS::ApiGateway::Deployment').filter((x) => x.p.RestApiId === apiId)) {
      if (dp.StageName && !stages.has(String(dp.StageName))) {
        const d = (dp.StageDescription ?? {}) as Props;
        stages.set(String(dp.StageName), {
          name: String(dp.StageName),
          deploymentId: ref(id)!.ref,
          variables: (d.Variables ?? {}) as Record<string, string>,
          methodSettings: [
            ...((d.MethodSettings ?? []) as MethodSetting[]),
            {
              ResourcePath: '/*',
              HttpMethod: '*',
              ThrottlingRateLimit: d.ThrottlingRateLimit,
              ThrottlingBurstLimit: d.ThrottlingBurstLimit,
            },
          ],
        });
      }
    }
    const endpoint = (p.EndpointConfiguration ?? {}) as Props;
    return {
      logicalId,
      stackName: stack.stackName,
      id: apiId,
      name: String(p.Name ?? logicalId),
      endpointType: String((endpoint.Types as string[] | undefined)?.[0] ?? 'EDGE'),
      vpcEndpointIds: ((endpoint.VpcEndpointIds ?? []) as unknown[]).map(String),
      policy: p.Policy,
      binaryMediaTypes: ((p.BinaryMediaTypes ?? []) as unknown[]).map((t) => String(t).replace(/~1/g, '/')),
      root,
      stages,
      permissions,
      executeApiEndpoints,
    };
  });
}
