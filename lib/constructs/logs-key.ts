/**
 * The customer key that encrypts log groups: function and state machine logs
 * carry session ids and execution data, flow logs carry session traffic.
 * The app registers one key (the stateful stack's data key, whose policy then
 * lets CloudWatch Logs use it for this account's log groups in this region);
 * every AidopsFunction, AidopsStateMachine and flow-log group takes it from
 * here instead of each construct threading it through its props. A construct
 * built outside the app (a unit test's own stack) gets a key of its stack's own.
 */
import { ArnFormat, Aws, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { IConstruct } from 'constructs';

const registered = new WeakMap<IConstruct, kms.IKey>();

/** Lets CloudWatch Logs in `key`'s region use it, for this account's log groups only. */
export function allowLogsToUse(key: kms.Key): void {
  const stack = Stack.of(key);
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.${Aws.URL_SUFFIX}`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
}

/** Every log group built under `root` (the app) is encrypted with `key`. */
export function useForLogs(root: IConstruct, key: kms.Key): void {
  allowLogsToUse(key);
  registered.set(root.node.root, key);
}

/** The key for a log group built in `scope`. */
export function logsKeyOf(scope: IConstruct): kms.IKey {
  const key = registered.get(scope.node.root);
  if (key) return key;
  const stack = Stack.of(scope);
  const own = stack.node.tryFindChild('LogsKey') as kms.Key | undefined;
  if (own) return own;
  const made = new kms.Key(stack, 'LogsKey', {
    description: `${stack.stackName}: encrypts its CloudWatch log groups`,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  allowLogsToUse(made);
  return made;
}
