import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge, nagResource } from '../nag.ts';
import { namesOf } from '../names.ts';
import { AidopsFunction } from './function.ts';

export interface AttestationProps {
  /** Customer-managed key: encrypts the nonce table and the AMD certificate cache. */
  readonly key: kms.IKey;
  /**
   * Secrets Manager name prefix; a session's secret is `${secretPrefix}${sessionId}`.
   * @default the environment's `aidops/<env>/session/`
   */
  readonly secretPrefix?: string;
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
  /** A cached AMD chain older than this is refused (AmdCertsStaleError) by its readers. @default Duration.hours(72) */
  readonly amdCertMaxAge?: Duration;
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
 * Attestation's shared state: the DynamoDB nonce table (PITR, TTL, SSE with the
 * customer key) and the AMD KDS certificate cache with its daily refresh. The
 * verification itself runs in the guests' evidence door (lib/constructs/sessions/guest-door.ts),
 * which reads this cache; nothing here can read a session's secrets or answer a task token.
 */
export class Attestation extends Construct {
  readonly table: dynamodb.Table;
  readonly secretPrefix: string;
  readonly certCache: s3.IBucket;
  readonly amdCertPrefix: string;
  readonly amdCertMaxAge: Duration;
  readonly refreshAmd: AidopsFunction;
  readonly refreshAmdSchedule: events.Rule;

  constructor(scope: Construct, id: string, props: AttestationProps) {
    super(scope, id);
    this.secretPrefix = props.secretPrefix ?? namesOf(this).sessionSecretPrefix;
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
    this.amdCertMaxAge = props.amdCertMaxAge ?? Duration.hours(72);
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

    this.refreshAmd = new AidopsFunction(this, 'RefreshAmdCerts', {
      entry: 'lambdas/attestation/handlers/refresh-amd.ts',
      description:
        'Daily: fetch the AMD VCEK/VLEK chains from AMD KDS, verify them against the pinned ARKs, cache them',
      timeout: Duration.minutes(2),
      environment: { AMD_CERT_BUCKET: this.certCache.bucketName, AMD_CERT_PREFIX: this.amdCertPrefix },
    });
    this.certCache.grantPut(this.refreshAmd, `${this.amdCertPrefix}chains/*`);
    this.refreshAmdSchedule = new events.Rule(this, 'RefreshAmdDaily', {
      description: 'Refresh the AMD KDS certificate chains daily',
      schedule: props.amdRefreshSchedule ?? events.Schedule.rate(Duration.days(1)),
      targets: [new targets.LambdaFunction(this.refreshAmd.fn, { retryAttempts: 2 })],
    });
    if (ownBucket)
      acknowledge(
        this.refreshAmd.fn.role!,
        `AwsSolutions-IAM5[Resource::${nagResource(this.refreshAmd.fn.role!, `${this.certCache.bucketArn}/${this.amdCertPrefix}chains/*`)}]`,
        'Writes the verified AMD chains of every product and signer kind under the chains/ prefix only.',
      );
  }

  /**
   * Lets `grantee` read the cache (the verified chains and VCEKs under the prefix), with
   * the acknowledgement of the prefix wildcard beside the grant.
   */
  grantReadCache(grantee: iam.IGrantable & { readonly role?: iam.IRole }): void {
    this.certCache.grantRead(grantee, `${this.amdCertPrefix}*`);
    if (grantee.role)
      acknowledge(
        grantee.role,
        `AwsSolutions-IAM5[Resource::${nagResource(grantee.role, `${this.certCache.bucketArn}/${this.amdCertPrefix}*`)}]`,
        'Reads the cached AMD chains and VCEKs (keyed by product, chip and TCB, unknown until a report arrives) under the cache prefix only.',
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
