import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
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
}

/** Conditions for KMS's native Nitro attestation path (`Decrypt`/`GenerateDataKey` with a `Recipient`). */
export interface RecipientAttestationConditions {
  /** Enclave image hash (`kms:RecipientAttestation:ImageSha384`, = PCR0), lowercase hex. */
  readonly imageSha384?: string;
  /** PCR index → value (`kms:RecipientAttestation:PCR<n>`). */
  readonly pcrs?: Readonly<Record<number, string>>;
}

/**
 * Attestation: the DynamoDB nonce table (PITR, TTL, SSE with the customer key)
 * and the Lambda that answers the session workflow's attestation step.
 */
export class Attestation extends Construct {
  readonly table: dynamodb.Table;
  readonly fn: AidopsFunction;
  readonly secretPrefix: string;

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
    this.fn = new AidopsFunction(this, 'Attest', {
      entry: 'lambdas/attestation/handlers/attest.ts',
      description: 'Verifies Nitro/NitroTPM/SEV-SNP evidence, consumes the nonce, releases sealed secrets',
      timeout: Duration.seconds(30),
      environment: {
        NONCE_TABLE: this.table.tableName,
        SECRET_PREFIX: this.secretPrefix,
        NONCE_TTL_SECONDS: String((props.nonceTtl ?? Duration.minutes(5)).toSeconds()),
      },
    });
    this.table.grantReadWriteData(this.fn);
    props.key.grantDecrypt(this.fn);
    // No grant* exists for a name prefix; the `-??????` suffix Secrets Manager appends is covered by `*`.
    this.fn.fn.addToRolePolicy(
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
    );
    this.fn.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        resources: [...(props.stateMachineArns ?? ['*'])],
      }),
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
