import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { validateCedar } from '../../lambdas/policy/cedar.ts';
import type { EngineName } from '../../lambdas/policy/model.ts';
import { packBundle } from '../../lambdas/policy/source.ts';
import { MAX_SESSION_TTL_MS } from '../../lambdas/policy/state.ts';
import { bundleIsCurrent } from '../../scripts/build-rego.ts';
import { acknowledgeStatement, grantAcknowledged } from '../nag.ts';
import { namesOf } from '../names.ts';
import { AidopsFunction, PROJECT_ROOT } from './function.ts';

/**
 * Modules the decide handler needs at run time as real packages: cedar-wasm's
 * `/nodejs` entry reads `cedar_wasm_bg.wasm` from its own directory, which
 * esbuild cannot inline. (opa-wasm is plain JavaScript and is bundled; the Rego
 * policy.wasm travels inside the policy bundle.)
 */
export const POLICY_NODE_MODULES = ['@cedar-policy/cedar-wasm'] as const;
/** File name of the synth-time policy bundle inside the function asset. */
export const POLICY_BUNDLE_FILE = 'policy-bundle.json';

export interface PolicyEngineProps {
  /** @default 'rego' (the faster engine here; see bench/policy.ts) */
  readonly engine?: EngineName;
  /** Policy directory laid out like the project's `policies/`. @default <project>/policies */
  readonly policiesDir?: string;
  /** Name of the SSM parameter that points at the active bundle. @default the environment's `/aidops/<env>/policy/active` */
  readonly activeParameterName?: string;
  /** Bus for decision audit events and PolicyViolation events. @default none: the caller publishes */
  readonly auditBus?: events.IEventBus;
  /** How often a warm function re-probes the active bundle, ≤ 30 s. @default Duration.seconds(30) */
  readonly refresh?: Duration;
  /** Server access logs of the policy bucket. @default none */
  readonly accessLogsBucket?: s3.IBucket;
  /** @default RemovalPolicy.RETAIN (the bucket holds every policy version ever active) */
  readonly removalPolicy?: RemovalPolicy;
}

/** Where the decision function reads the state its callers may not state (PolicyEngine.readStateFrom). */
export interface DecisionStateSources {
  /** The session table (status, tier, cohort, path profile, user, expiry, granted scopes). */
  readonly sessionTable: dynamodb.ITable;
  /** The fleet flags' SSM prefix, e.g. `/aidops/dev/flags`. */
  readonly flagPrefix: string;
  /** ≤ 30. @default 30 */
  readonly flagCacheSeconds?: number;
  /** The plugin registry table. */
  readonly registryTable: dynamodb.ITable;
  /** How long a warm function keeps a session item, ≤ 10 s. @default Duration.seconds(10) */
  readonly sessionCache?: Duration;
}

/**
 * Policy-as-code for agent actions: a versioned policy bucket, an SSM parameter
 * naming the active bundle (repoint it to change policy without a redeploy),
 * and the batch decision function. The policies are validated at synth time:
 * Cedar against its schema, the Rego bundle against its sources. The decision
 * function reads each session's state from the control plane's stores, wired
 * with `readStateFrom` once they exist.
 */
export class PolicyEngine extends Construct {
  readonly bucket: s3.Bucket;
  readonly activeVersion: ssm.StringParameter;
  readonly decide: AidopsFunction;
  /** The default bundle's object key in the bucket. */
  readonly bundleKey: string;

  constructor(scope: Construct, id: string, props: PolicyEngineProps = {}) {
    super(scope, id);
    const dir = props.policiesDir ?? path.join(PROJECT_ROOT, 'policies');
    const doc = packBundle(dir);
    if (doc.cedar) {
      const v = validateCedar(doc.cedar);
      if (!v.ok) throw new Error(`PolicyEngine: Cedar policies in ${dir} do not validate:\n${v.errors.join('\n')}`);
    }
    if (doc.rego) {
      const c = bundleIsCurrent(path.join(dir, 'rego'), path.join(dir, 'rego/bundle'));
      if (!c.current)
        throw new Error(`PolicyEngine: Rego bundle in ${dir} is stale (${c.why}); run scripts/build-rego.ts`);
    }
    const engine = props.engine ?? 'rego';
    if (!doc[engine]) throw new Error(`PolicyEngine: ${dir} has no ${engine} policies`);
    const refresh = props.refresh ?? Duration.seconds(30);
    if (refresh.toSeconds() > 30) throw new Error('PolicyEngine: refresh must be at most 30 seconds');

    const body = JSON.stringify(doc);
    const digest = createHash('sha256').update(body).digest('hex').slice(0, 16);
    this.bundleKey = `bundles/${doc.policySet}/${doc.version}-${digest}.json`;
    // The function ships the synth-time bundle; `bundleKey` is where a publisher may upload it.
    const staged = path.join(PROJECT_ROOT, 'cdk.out', '.policy-bundles', digest);
    mkdirSync(staged, { recursive: true });
    const bundleFile = path.join(staged, POLICY_BUNDLE_FILE);
    writeFileSync(bundleFile, body);

    this.bucket = new s3.Bucket(this, 'Bucket', {
      versioned: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: props.accessLogsBucket ? 'policy-bucket/' : undefined,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.activeVersion = new ssm.StringParameter(this, 'Active', {
      parameterName: props.activeParameterName ?? namesOf(this).policyParameter,
      description: 'Active aidops policy bundle: {"bucket","key","versionId"?}; repoint to change policy',
      // The bundle shipped inside the function decides until a publisher uploads one and repoints
      // this parameter (no BucketDeployment: its custom-resource Lambda runs on a runtime we do not control).
      stringValue: JSON.stringify({ bundled: true }),
    });

    this.decide = new AidopsFunction(this, 'Decide', {
      entry: 'lambdas/policy/handlers/decide.ts',
      description: 'Decides batches of agent action requests with Cedar or Rego policies',
      timeout: Duration.seconds(10),
      memorySize: 1024,
      nodeModules: [...POLICY_NODE_MODULES],
      extraFiles: [{ from: bundleFile, to: POLICY_BUNDLE_FILE }],
      environment: {
        POLICY_ENGINE: engine,
        POLICY_PARAMETER: this.activeVersion.parameterName,
        POLICY_BUNDLE_FILE,
        POLICY_REFRESH_SECONDS: String(refresh.toSeconds()),
        ...(props.auditBus ? { AUDIT_BUS_NAME: props.auditBus.eventBusName } : {}),
      },
    });
    for (const s of this.bucket.grantRead(this.decide.fn).principalStatements) {
      acknowledgeStatement(
        this.decide.fn.role!,
        s,
        'Reads whichever policy bundle version the active-version parameter names, in its own policy bucket.',
      );
    }
    this.activeVersion.grantRead(this.decide.fn);
    props.auditBus?.grantPutEventsTo(this.decide.fn);
  }

  /**
   * Points the decision function at the stores it looks the session's state up in,
   * with read-only grants on exactly those: GetItem on the session table, the flag
   * parameters under the prefix, GetItem/Query/BatchGetItem on the registry, and
   * Decrypt with the tables' keys.
   */
  readStateFrom(src: DecisionStateSources): void {
    const sessionCache = src.sessionCache ?? Duration.millis(MAX_SESSION_TTL_MS);
    if (sessionCache.toMilliseconds() > MAX_SESSION_TTL_MS)
      throw new Error(`PolicyEngine: the session cache must be at most ${MAX_SESSION_TTL_MS / 1000} seconds`);
    const flagCacheSeconds = src.flagCacheSeconds ?? 30;
    if (flagCacheSeconds > 30) throw new Error('PolicyEngine: the flag cache must be at most 30 seconds');
    const fn = this.decide.fn;
    fn.addEnvironment('SESSION_TABLE', src.sessionTable.tableName);
    fn.addEnvironment('SESSION_STATE_CACHE_SECONDS', String(sessionCache.toSeconds()));
    fn.addEnvironment('FLAG_PREFIX', src.flagPrefix);
    fn.addEnvironment('FLAG_CACHE_SECONDS', String(flagCacheSeconds));
    fn.addEnvironment('REGISTRY_TABLE', src.registryTable.tableName);
    src.sessionTable.grant(fn, 'dynamodb:GetItem');
    src.sessionTable.encryptionKey?.grantDecrypt(fn);
    src.registryTable.grant(fn, 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:BatchGetItem');
    src.registryTable.encryptionKey?.grantDecrypt(fn);
    const parameter = (name: string) =>
      Stack.of(this).formatArn({ service: 'ssm', resource: `parameter${name}`, arnFormat: ArnFormat.NO_RESOURCE_NAME });
    grantAcknowledged(
      fn.role!,
      new iam.PolicyStatement({
        actions: ['ssm:GetParametersByPath'],
        resources: [parameter(src.flagPrefix), parameter(`${src.flagPrefix}/*`)],
      }),
      'Flags are parameters under the flag prefix, one per cohort and capability.',
    );
  }

  /** Lets a principal (an approval workflow, CI) publish bundles and repoint the active version. */
  grantPublish(grantee: iam.IGrantable): void {
    this.bucket.grantPut(grantee);
    this.activeVersion.grantWrite(grantee);
  }
}
