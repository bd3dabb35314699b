import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge, grantAcknowledged, nagResource } from '../nag.ts';
import { AidopsFunction } from './function.ts';

export interface AttestationProps {
  /** Customer-managed key: encrypts the nonce table; the function may decrypt secrets under it. */
  readonly key: kms.IKey;
  /**
   * Secrets Manager name prefix; a session's secret is `${secretPrefix}${sessionId}`.
   * @default 'aidops/session/'
   */
  readonly secretPrefix?: string;
  /**
   * State machines whose task tokens the function may answer (SendTaskSuccess/Failure/Heartbeat).
   * Task-token APIs are authorised against the state machine ARN.
   * @default ['*'] (any state machine in the account; narrow it once the session workflow exists)
   */
  readonly stateMachineArns?: readonly string[];
  /** @default Duration.minutes(5) */
  readonly nonceTtl?: Duration;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Bucket caching AMD KDS certificates (VCEK/VLEK chains, VCEKs by chip and TCB).
   * @default a new bucket: SSE-KMS with `key`, TLS only, no public access, versioned,
   * server access logs to `accessLogsBucket`, retained
   */
  readonly certCacheBucket?: s3.IBucket;
  /** Receives the cache bucket's server access logs (when the construct creates it). @default no access logs */
  readonly accessLogsBucket?: s3.IBucket;
  /** @default 'amd/' */
  readonly amdCertPrefix?: string;
  /** A cached AMD chain older than this is refused (AmdCertsStaleError). @default Duration.hours(72) */
  readonly amdCertMaxAge?: Duration;
  /** The attestation step asks AMD KDS for a VCEK missing from the cache (and caches it). @default true */
  readonly fetchVcekOnMiss?: boolean;
  /** When the AMD chains are refreshed. @default events.Schedule.rate(Duration.days(1)) */
  readonly amdRefreshSchedule?: events.Schedule;
}

/** Conditions for KMS's native Nitro attestation path (`Decrypt`/`GenerateDataKey` with a `Recipient`). */
export interface RecipientAttestationConditions {
  /** Enclave image hash (`kms:RecipientAttestation:ImageSha384`, = PCR0), lowercase hex. */
  readonly imageSha384?: string;
  /** PCR index → value (`kms:RecipientAttestation:PCR<n>`). */
  readonly pcrs?: Readonly<Record<number, string>>;
}

/**
 * Attestation: the DynamoDB nonce table (PITR, TTL, SSE with the customer key),
 * the Lambda that answers the session workflow's attestation step, and the AMD KDS
 * certificate cache with its daily refresh.
 */
export class Attestation extends Construct {
  readonly table: dynamodb.Table;
  readonly fn: AidopsFunction;
  readonly secretPrefix: string;
  readonly certCache: s3.IBucket;
  readonly amdCertPrefix: string;
  readonly refreshAmd: AidopsFunction;
  readonly refreshAmdSchedule: events.Rule;

  constructor(scope: Construct, id: string, props: AttestationProps) {
    super(scope, id);
    this.secretPrefix = props.secretPrefix ?? 'aidops/session/';
    this.table = new dynamodb.Table(this, 'Nonces', {
      partitionKey: { name: 'nonce', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.key,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.amdCertPrefix = props.amdCertPrefix ?? 'amd/';
    const ownBucket = !props.certCacheBucket;
    this.certCache =
      props.certCacheBucket ??
      new s3.Bucket(this, 'AmdCertCache', {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: props.key,
        bucketKeyEnabled: true,
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned: true,
        ...(props.accessLogsBucket
          ? { serverAccessLogsBucket: props.accessLogsBucket, serverAccessLogsPrefix: 'amd-cert-cache/' }
          : {}),
        // Daily refreshes make a version a day; old ones are only forensic history.
        lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(90) }],
        removalPolicy,
      });
    if (ownBucket && !props.accessLogsBucket)
      acknowledge(
        this.certCache,
        'AwsSolutions-S1',
        'No access-log bucket was passed (standalone use); the cache holds only public AMD certificates, and deployments pass accessLogsBucket.',
      );
    const fetchOnMiss = props.fetchVcekOnMiss ?? true;
    const cacheEnv = {
      AMD_CERT_BUCKET: this.certCache.bucketName,
      AMD_CERT_PREFIX: this.amdCertPrefix,
    };

    this.fn = new AidopsFunction(this, 'Attest', {
      entry: 'lambdas/attestation/handlers/attest.ts',
      description: 'Verifies Nitro/NitroTPM/SEV-SNP evidence, consumes the nonce, releases sealed secrets',
      timeout: Duration.seconds(30),
      environment: {
        NONCE_TABLE: this.table.tableName,
        SECRET_PREFIX: this.secretPrefix,
        NONCE_TTL_SECONDS: String((props.nonceTtl ?? Duration.minutes(5)).toSeconds()),
        ...cacheEnv,
        AMD_CERT_MAX_AGE_HOURS: String((props.amdCertMaxAge ?? Duration.hours(72)).toHours()),
        KDS_FETCH_ON_MISS: String(fetchOnMiss),
      },
    });
    this.table.grantReadWriteData(this.fn);
    this.certCache.grantRead(this.fn, `${this.amdCertPrefix}*`);
    if (fetchOnMiss) this.certCache.grantPut(this.fn, `${this.amdCertPrefix}vcek/*`);

    this.refreshAmd = new AidopsFunction(this, 'RefreshAmdCerts', {
      entry: 'lambdas/attestation/handlers/refresh-amd.ts',
      description:
        'Daily: fetch the AMD VCEK/VLEK chains from AMD KDS, verify them against the pinned ARKs, cache them',
      timeout: Duration.minutes(2),
      environment: cacheEnv,
    });
    this.certCache.grantPut(this.refreshAmd, `${this.amdCertPrefix}chains/*`);
    this.refreshAmdSchedule = new events.Rule(this, 'RefreshAmdDaily', {
      description: 'Refresh the AMD KDS certificate chains daily',
      schedule: props.amdRefreshSchedule ?? events.Schedule.rate(Duration.days(1)),
      targets: [new targets.LambdaFunction(this.refreshAmd.fn, { retryAttempts: 2 })],
    });
    if (ownBucket) this.acknowledgeCacheGrants(fetchOnMiss);
    props.key.grantDecrypt(this.fn);
    const role = this.fn.fn.role!;
    // No grant* exists for a name prefix; the `-??????` suffix Secrets Manager appends is covered by `*`.
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [
          Stack.of(this).formatArn({
            service: 'secretsmanager',
            resource: 'secret',
            resourceName: `${this.secretPrefix}*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
      "A session's secrets are created per session, at run time, under this prefix; nothing else is readable.",
    );
    grantAcknowledged(
      role,
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        resources: [...(props.stateMachineArns ?? ['*'])],
      }),
      'No state machine named (stateMachineArns): the callbacks answer whichever machine issued the task token, which itself authorizes the callback.',
    );
  }

  /** The object-prefix grants on the cache bucket (bucket.grant* take no reason, so they are acknowledged here). */
  private acknowledgeCacheGrants(fetchOnMiss: boolean): void {
    const objects = (role: iam.IRole, prefix: string, reason: string) =>
      acknowledge(
        role,
        `AwsSolutions-IAM5[Resource::${nagResource(role, `${this.certCache.bucketArn}/${prefix}`)}]`,
        reason,
      );
    objects(
      this.fn.fn.role!,
      `${this.amdCertPrefix}*`,
      'Reads the cached AMD chains and VCEKs (keyed by product, chip and TCB, unknown until a report arrives) under the cache prefix only.',
    );
    if (fetchOnMiss)
      objects(
        this.fn.fn.role!,
        `${this.amdCertPrefix}vcek/*`,
        'Caches a VCEK fetched from AMD KDS (after verifying it) under the vcek/ prefix; the key holds the chip id and TCB.',
      );
    objects(
      this.refreshAmd.fn.role!,
      `${this.amdCertPrefix}chains/*`,
      'Writes the verified AMD chains of every product and signer kind under the chains/ prefix only.',
    );
  }

  /**
   * A key-policy statement for KMS's native Nitro path: `principal` may Decrypt or
   * GenerateDataKey only with a Recipient attestation document whose image hash and
   * PCRs match (KMS verifies the document and re-encrypts to its public key).
   * Add it to the key that wraps session secrets; SEV-SNP has no such path.
   */
  static recipientAttestationStatement(
    principal: iam.IPrincipal,
    c: RecipientAttestationConditions,
  ): iam.PolicyStatement {
    const eq: Record<string, string> = {};
    if (c.imageSha384) eq['kms:RecipientAttestation:ImageSha384'] = c.imageSha384;
    for (const [i, v] of Object.entries(c.pcrs ?? {})) eq[`kms:RecipientAttestation:PCR${i}`] = v;
    if (Object.keys(eq).length === 0) throw new Error('recipientAttestationStatement needs an image hash or PCRs');
    return new iam.PolicyStatement({
      sid: 'AllowOnlyAttestedRecipients',
      principals: [principal],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:GenerateDataKeyPair', 'kms:DeriveSharedSecret'],
      resources: ['*'],
      conditions: { StringEqualsIgnoreCase: eq },
    });
  }
}
