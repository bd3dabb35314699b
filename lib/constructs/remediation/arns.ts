/** ARN patterns the remediation grants name, in the stack's partition, region and account. */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { Tags } from '../../../lambdas/shared/tags.ts';
import { namesOf } from '../../names.ts';

/** An EC2 resource of `type` (`instance`, `volume`, …), any id unless named. Snapshots have no account. */
export function ec2Arn(scope: IConstruct, type: string, id = '*'): string {
  return Stack.of(scope).formatArn({
    service: 'ec2',
    resource: type,
    resourceName: id,
    ...(type === 'snapshot' ? { account: '' } : {}),
  });
}

/** The session roles the revocation and restore grants name: the given ARNs, else every role of the session name pattern. */
export function sessionRoleArns(scope: IConstruct, given?: readonly string[]): string[] {
  return [
    ...(given ?? [
      Stack.of(scope).formatArn({
        service: 'iam',
        region: '',
        resource: 'role',
        resourceName: namesOf(scope).sessionRolePattern,
      }),
    ]),
  ];
}

/** Executions of the state machine named `machineName` (names made at run time). */
export function executionsArn(scope: IConstruct, machineName: string): string {
  return Stack.of(scope).formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${machineName}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/**
 * The condition every grant that acts on an instance, its interfaces or its
 * volumes carries: the resource is a session's (tagged with its session id).
 */
export const SESSION_RESOURCE_CONDITION = {
  StringLike: { [`aws:ResourceTag/${Tags.SessionId}`]: '*' },
} as const;
