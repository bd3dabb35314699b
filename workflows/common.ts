import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { ErrorNames } from '../lambdas/shared/errors.ts';

/** Retry only what is transient: throttling, 5xx and an unreachable endpoint, with jittered backoff. */
export function transientRetry(maxAttempts = 5): sfn.RetryProps {
  return {
    errors: [ErrorNames.Transient, ErrorNames.EndpointUnreachable],
    interval: Duration.seconds(1),
    backoffRate: 2,
    maxAttempts,
    maxDelay: Duration.seconds(30),
    jitterStrategy: sfn.JitterType.FULL,
  };
}
