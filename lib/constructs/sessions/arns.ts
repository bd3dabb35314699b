/**
 * The ARNs the session constructs grant on, built for the stack's partition
 * (`Stack.formatArn`), never as literal strings naming the `aws` partition.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { namesOf } from '../../names.ts';

/** Secrets whose names match `namePattern` (e.g. `aidops/session/*`). */
export function secretArn(scope: IConstruct, namePattern: string): string {
  return Stack.of(scope).formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: namePattern,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** An SSM parameter by its full name (`/aidops/flags`, a token, or a pattern such as `/aidops/flags/*`). */
export function parameterArn(scope: IConstruct, name: string, opts: { account?: string } = {}): string {
  // The name starts with "/", so it follows `parameter` directly (the name may be a token).
  return Stack.of(scope).formatArn({
    service: 'ssm',
    resource: `parameter${name}`,
    arnFormat: ArnFormat.NO_RESOURCE_NAME,
    ...opts,
  });
}

/**
 * Every EC2 resource of a type in this stack's region: the ids are made at run time.
 * Snapshots and images carry no account in their ARN.
 */
export function ec2Arns(
  scope: IConstruct,
  type: 'instance' | 'volume' | 'network-interface' | 'snapshot' | 'image',
): string {
  return Stack.of(scope).formatArn({
    service: 'ec2',
    resource: type,
    resourceName: '*',
    ...(type === 'snapshot' || type === 'image' ? { account: '' } : {}),
  });
}

/** One EC2 resource of this stack's account and region, by id. */
export function ec2Arn(scope: IConstruct, type: 'subnet' | 'security-group' | 'launch-template', id: string): string {
  return Stack.of(scope).formatArn({ service: 'ec2', resource: type, resourceName: id });
}

/** The session state machine (the environment's `sessionMachine`), by name: task tokens are answered against it. */
export function sessionMachineArn(scope: IConstruct): string {
  return Stack.of(scope).formatArn({
    service: 'states',
    resource: 'stateMachine',
    resourceName: namesOf(scope).sessionMachine,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** Every execution of the session state machine. */
export function sessionExecutionsArn(scope: IConstruct): string {
  return Stack.of(scope).formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${namesOf(scope).sessionMachine}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}
