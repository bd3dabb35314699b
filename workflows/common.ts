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

/**
 * For read-only `aws-sdk:ec2:describe*` tasks: Step Functions names every EC2 SDK error
 * Ec2.Ec2Exception, so throttling cannot be told apart; a read is safe to retry a few times.
 */
export function ec2ReadRetry(): sfn.RetryProps {
  return {
    errors: ['Ec2.Ec2Exception', 'Ec2.RequestLimitExceededException'],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 4,
    jitterStrategy: sfn.JitterType.FULL,
  };
}
