/**
 * PluginAdmission: the AWS side of plugin admission — staging bucket, registry
 * table, trusted-root cache, the admission step functions and the daily refresh
 * of Sigstore's trusted root. PluginAdmissionWorkflow (./plugins-workflow.ts)
 * builds the Standard workflow on `verifyStaged` and `recordAdmission`.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeStatement } from '../nag.ts';
import { AidopsFunction } from './function.ts';

export interface PluginAdmissionProps {
  /** The deployment's trust policy (JSON text or object; validated by the handlers at cold start). */
  readonly trustPolicy: string | Readonly<Record<string, unknown>>;
  /** Bucket receiving the staging bucket's server access logs. */
  readonly accessLogsBucket: s3.IBucket;
  /** Customer-managed key for the staging bucket, the registry table and the root cache. @default a new key with rotation */
  readonly encryptionKey?: kms.IKey;
  /** Bucket (prefix `sigstore/`) holding the cached trusted root. @default the staging bucket */
  readonly trustedRootBucket?: s3.IBucket;
  /** Max age of the cached trusted root before verification refuses it. @default Duration.days(7) */
  readonly trustedRootMaxAge?: Duration;
  /** Object key of a sigstore-js keys document (npm registry keys) in the root bucket. @default none */
  readonly trustedKeysKey?: string;
  /** Policy version recorded in audit events. @default none */
  readonly policyVersion?: string;
  /** @default RemovalPolicy.RETAIN (the registry is evidence) */
  readonly removalPolicy?: RemovalPolicy;
}

export const TRUSTED_ROOT_KEY = 'sigstore/trusted_root.json';

const ROOT_CACHE_ONLY = "The cached Sigstore trusted root (and keys) under the bucket's sigstore/ prefix only.";

export class PluginAdmission extends Construct {
  readonly key: kms.IKey;
  readonly stagingBucket: s3.Bucket;
  readonly trustedRootBucket: s3.IBucket;
  readonly table: dynamodb.Table;
  readonly verifyStaged: AidopsFunction;
  readonly recordAdmission: AidopsFunction;
  readonly revoke: AidopsFunction;
  readonly isAllowed: AidopsFunction;
  readonly refreshTrustedRoot: AidopsFunction;
  readonly refreshSchedule: events.Rule;

  constructor(scope: Construct, id: string, props: PluginAdmissionProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.key =
      props.encryptionKey ??
      new kms.Key(this, 'Key', {
        enableKeyRotation: true,
        description: 'ai-desktop-ops plugin admission',
        removalPolicy,
      });

    this.stagingBucket = new s3.Bucket(this, 'Staging', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'plugin-staging/',

      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(90) }],
      removalPolicy,
    });
    // Uploads reach EventBridge, which starts admission (workflows/plugin-admission.ts). Set on the
    // CfnBucket: the L2 `eventBridgeEnabled` adds a notifications custom-resource Lambda we do not control.
    (this.stagingBucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };
    this.trustedRootBucket = props.trustedRootBucket ?? this.stagingBucket;

    this.table = new dynamodb.Table(this, 'Registry', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    });

    const policyJson = typeof props.trustPolicy === 'string' ? props.trustPolicy : JSON.stringify(props.trustPolicy);
    const common = {
      REGISTRY_TABLE: this.table.tableName,
      TRUSTED_ROOT_BUCKET: this.trustedRootBucket.bucketName,
      TRUSTED_ROOT_KEY,
      TRUSTED_ROOT_MAX_AGE_HOURS: String((props.trustedRootMaxAge ?? Duration.days(7)).toHours()),
      TRUST_POLICY: policyJson,
      ...(props.trustedKeysKey ? { TRUSTED_KEYS_KEY: props.trustedKeysKey } : {}),
      ...(props.policyVersion ? { POLICY_VERSION: props.policyVersion } : {}),
    };

    this.verifyStaged = new AidopsFunction(this, 'VerifyStaged', {
      entry: 'lambdas/plugins/handlers/verify-staged.ts',
      description: 'Plugin admission: verify a staged artifact and its Sigstore bundle against the trust policy',
      environment: common,
      timeout: Duration.seconds(60),
      memorySize: 1024,
    });
    const verifyRole = this.verifyStaged.fn.role!;
    for (const s of this.stagingBucket.grantRead(this.verifyStaged).principalStatements) {
      acknowledgeStatement(
        verifyRole,
        s,
        'Reads any artifact or bundle staged for admission in its own staging bucket.',
      );
    }
    for (const s of this.trustedRootBucket.grantRead(this.verifyStaged, 'sigstore/*').principalStatements) {
      acknowledgeStatement(verifyRole, s, ROOT_CACHE_ONLY);
    }
    this.table.grantReadData(this.verifyStaged);

    this.recordAdmission = new AidopsFunction(this, 'RecordAdmission', {
      entry: 'lambdas/plugins/handlers/record-admission.ts',
      description: 'Plugin admission: record an admitted plugin version in the registry',
      environment: {
        REGISTRY_TABLE: this.table.tableName,
        TRUST_POLICY: policyJson,
        ...(props.policyVersion ? { POLICY_VERSION: props.policyVersion } : {}),
      },
    });
    this.table.grantReadWriteData(this.recordAdmission);

    this.revoke = new AidopsFunction(this, 'Revoke', {
      entry: 'lambdas/plugins/handlers/revoke.ts',
      description: 'Plugin admission: revoke a plugin version or publisher',
      environment: {
        REGISTRY_TABLE: this.table.tableName,
        ...(props.policyVersion ? { POLICY_VERSION: props.policyVersion } : {}),
      },
    });
    this.table.grantReadWriteData(this.revoke);

    this.isAllowed = new AidopsFunction(this, 'IsAllowed', {
      entry: 'lambdas/plugins/handlers/is-allowed.ts',
      description: 'Plugin registry facts for plugin_exec decisions',
      environment: { REGISTRY_TABLE: this.table.tableName },
      timeout: Duration.seconds(10),
    });
    this.table.grantReadData(this.isAllowed);

    this.refreshTrustedRoot = new AidopsFunction(this, 'RefreshTrustedRoot', {
      entry: 'lambdas/plugins/handlers/refresh-trusted-root.ts',
      description: "Daily: refresh Sigstore's trusted root through TUF into the cache bucket",
      environment: { TRUSTED_ROOT_BUCKET: this.trustedRootBucket.bucketName, TRUSTED_ROOT_KEY },
      timeout: Duration.minutes(2),
    });
    for (const s of this.trustedRootBucket.grantPut(this.refreshTrustedRoot, 'sigstore/*').principalStatements) {
      acknowledgeStatement(this.refreshTrustedRoot.fn.role!, s, ROOT_CACHE_ONLY);
    }
    this.refreshSchedule = new events.Rule(this, 'RefreshDaily', {
      description: 'Refresh the Sigstore trusted root daily',
      schedule: events.Schedule.rate(Duration.days(1)),
      targets: [new targets.LambdaFunction(this.refreshTrustedRoot.fn, { retryAttempts: 2 })],
    });
  }
}
