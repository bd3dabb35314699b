import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeGrantFamilies } from '../nag.ts';
import { skipCheck } from '../scanners.ts';
import { logsKeyOf } from './logs-key.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The Lambda runtime every function runs on; the local Node major must match it. */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;

export interface AidopsFunctionProps {
  /** Handler file, relative to the project root, e.g. `lambdas/sessions/handlers/launch.ts`. */
  readonly entry: string;
  /** @default 'handler' */
  readonly handler?: string;
  readonly description: string;
  /** @default {} */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default logs.RetentionDays.ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
  /** Modules left out of the bundle (e.g. ones that load a .wasm file at run time). @default [] */
  readonly nodeModules?: readonly string[];
  /** @default none */
  readonly reservedConcurrentExecutions?: number;
  /** Files copied next to the bundle (absolute source → name in the asset). @default none */
  readonly extraFiles?: readonly { readonly from: string; readonly to: string }[];
  /** @default RemovalPolicy.DESTROY for the log group (the audit trail is the record, not Lambda logs) */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * How every function is bundled: local esbuild (never Docker), minified ESM for
 * Node 24 with source maps, every dependency bundled except `nodeModules`, and
 * `extraFiles` copied next to the bundle.
 */
export function bundlingOptions(
  props: Pick<AidopsFunctionProps, 'nodeModules' | 'extraFiles'> = {},
): nodejs.BundlingOptions {
  const extra = props.extraFiles ?? [];
  return {
    forceDockerBundling: false,
    format: nodejs.OutputFormat.ESM,
    target: 'node24',
    minify: true,
    sourceMap: true,
    sourcesContent: false,
    mainFields: ['module', 'main'],
    // ESM bundles of CommonJS dependencies still call require().
    banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    nodeModules: props.nodeModules ? [...props.nodeModules] : undefined,
    // Bundle the pinned SDK instead of the runtime's copy, so what we test is what runs.
    externalModules: [],
    commandHooks:
      extra.length > 0
        ? {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: (_in: string, out: string) => extra.map((f) => `cp "${f.from}" "${out}/${f.to}"`),
          }
        : undefined,
  };
}

/**
 * The same bundling as esbuild API options (NodejsFunction passes these as esbuild
 * flags), for tests that build a handler exactly as a deployment does.
 */
export function esbuildOptions(props: Pick<AidopsFunctionProps, 'nodeModules'> = {}) {
  const b = bundlingOptions(props);
  return {
    bundle: true,
    platform: 'node' as const,
    format: 'esm' as const,
    target: b.target ?? 'node24',
    minify: b.minify,
    sourcemap: b.sourceMap,
    sourcesContent: b.sourcesContent,
    mainFields: [...(b.mainFields ?? [])],
    banner: { js: b.banner ?? '' },
    external: [...(b.nodeModules ?? []), ...(b.externalModules ?? [])],
  };
}

/**
 * NodejsFunction with the project's defaults: local esbuild (never Docker),
 * minified ESM with source maps, arm64, the latest Node runtime, an explicit log
 * group with retention, and active X-Ray tracing.
 */
export class AidopsFunction extends Construct {
  readonly fn: nodejs.NodejsFunction;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: AidopsFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
      encryptionKey: logsKeyOf(this),
    });
    // An explicit role instead of AWSLambdaBasicExecutionRole: write only to this function's log group.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description}`.slice(0, 1000),
    });
    this.logGroup.grantWrite(role);
    this.fn = new nodejs.NodejsFunction(this, 'Fn', {
      entry: path.join(PROJECT_ROOT, props.entry),
      handler: props.handler ?? 'handler',
      description: props.description,
      role,
      runtime: LAMBDA_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      // Active tracing is set on the CfnFunction below, with X-Ray's permissions in a policy of
      // their own, so the unavoidable `Resource: *` is acknowledged there and nowhere else.
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: id,
        POWERTOOLS_METRICS_NAMESPACE: 'AiDesktopOps',
        ...props.environment,
      },
      bundling: bundlingOptions(props),
    });
    const cfn = this.fn.node.defaultChild as lambda.CfnFunction;
    cfn.tracingConfig = { mode: 'Active' };
    const xray = new iam.Policy(this, 'XRay', {
      statements: [
        new iam.PolicyStatement({ actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], resources: ['*'] }),
      ],
      roles: [role],
    });
    Validations.of(xray).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions.',
    });
    acknowledgeGrantFamilies(role);
    skipCheck(
      cfn,
      'CKV_AWS_116',
      'No asynchronous invocation goes unguarded: Step Functions and SQS event-source mappings invoke synchronously (the queue has the dead-letter queue); EventBridge targets carry their own retry policy and, where a lost event matters, a target dead-letter queue.',
    );
    skipCheck(
      cfn,
      'CKV_AWS_117',
      'Calls only AWS APIs (no private resources); outside a VPC its network boundary is its IAM role. Sessions, not functions, run in the isolated VPC.',
    );
    skipCheck(
      cfn,
      'CKV_AWS_173',
      'The environment holds resource names and settings only; secrets live in Secrets Manager, read at run time.',
    );
    if (props.reservedConcurrentExecutions === undefined) {
      skipCheck(
        cfn,
        'CKV_AWS_115',
        'Shares the account pool: its callers bound it (workflow concurrency, the blast-radius guard, event-source batch settings); reserved concurrency is set where a flood must not starve the rest (audit writer and digester).',
      );
    }
    // Lets the local runtime find the handler a Task names, from the template alone.
    cfn.addMetadata('aidops:entry', props.entry);
    cfn.addMetadata('aidops:handler', props.handler ?? 'handler');
  }

  /** Convenience passthrough so callers write `x.grantPrincipal` like any IFunction. */
  get grantPrincipal(): iam.IPrincipal {
    return this.fn.grantPrincipal;
  }
}
