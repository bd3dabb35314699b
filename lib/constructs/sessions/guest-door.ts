/**
 * The guests' door to the control plane: the evidence function (nonce, boot
 * heartbeat, attestation) behind an IAM-authenticated Function URL that only the
 * session instance role may call. The handler binds the caller (its role
 * session, named after the instance) to the session it asks about.
 */
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { grantAcknowledged } from '../../nag.ts';
import type { Attestation } from '../attestation.ts';
import type { AidopsFunction } from '../function.ts';
import { secretArn, sessionMachineArn } from './arns.ts';
import { sessionFunction } from './functions.ts';

export interface GuestDoorProps {
  readonly table: dynamodb.ITable;
  readonly auditBus: events.IEventBus;
  /** The secrets bundles are encrypted with it. */
  readonly dataKey: kms.IKey;
  readonly nonceTable: dynamodb.ITable;
  readonly secretPrefix: string;
  /** The only role that may call the door. */
  readonly instanceRole: iam.Role;
  /** The verified AMD certificate cache: SEV-SNP evidence without its chain takes it from here (read only). */
  readonly amdCertCache?: Pick<Attestation, 'certCache' | 'amdCertPrefix' | 'amdCertMaxAge' | 'grantReadCache'>;
}

export interface GuestDoor {
  readonly evidenceFn: AidopsFunction;
  readonly url: lambda.FunctionUrl;
}

/**
 * Adds the door to `scope` itself (not a construct level of its own), so the
 * function and its URL keep the logical ids, and the URL the guests know.
 */
export function addGuestDoor(scope: Construct, props: GuestDoorProps): GuestDoor {
  const evidenceFn = sessionFunction(
    scope,
    'Evidence',
    props,
    'evidence',
    'Guest evidence door: nonce, boot heartbeat, attestation',
    {
      NONCE_TABLE: props.nonceTable.tableName,
      SECRET_PREFIX: props.secretPrefix,
      INSTANCE_ROLE_NAME: props.instanceRole.roleName,
      ...(props.amdCertCache
        ? {
            AMD_CERT_BUCKET: props.amdCertCache.certCache.bucketName,
            AMD_CERT_PREFIX: props.amdCertCache.amdCertPrefix,
            AMD_CERT_MAX_AGE_HOURS: String(props.amdCertCache.amdCertMaxAge.toHours()),
          }
        : {}),
    },
  );
  props.amdCertCache?.grantReadCache(evidenceFn.fn);
  // Guests sign their requests with their instance-profile credentials.
  const url = evidenceFn.fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
  url.grantInvokeUrl(props.instanceRole);
  props.nonceTable.grantReadWriteData(evidenceFn.fn);
  props.dataKey.grantDecrypt(evidenceFn.fn);
  grantAcknowledged(
    evidenceFn.fn.role!,
    new iam.PolicyStatement({
      actions: ['secretsmanager:GetSecretValue'],
      resources: [secretArn(scope, `${props.secretPrefix}*`)],
    }),
    'Session bundles are named by session id under the prefix. Created at run time (one per session); ids cannot be known at deploy.',
  );
  // Step Functions authorizes SendTask* against the ARN of the state machine that issued the
  // token (its AccessDenied names `stateMachine:<name>`; CDK's grantTaskResponse scopes the same
  // way), even though the Service Authorization Reference lists no resource type for them.
  evidenceFn.fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
      resources: [sessionMachineArn(scope)],
    }),
  );
  return { evidenceFn, url };
}
