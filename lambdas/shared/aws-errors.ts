import { AidopsError, EndpointUnreachableError, TransientError } from './errors.ts';

const THROTTLE = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'SlowDown',
  'RequestThrottled',
  'PriorRequestNotComplete',
  'SnapshotCreationPerVolumeRateExceeded',
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'Unavailable',
]);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE']);

/**
 * Maps an AWS SDK error to the project's typed errors so workflows retry only
 * what is transient. Anything already typed, or not recognized, is returned as is.
 */
export function classifyAwsError(err: unknown, operation: string): unknown {
  if (err instanceof AidopsError) return err;
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const code = e.code ?? (e as { cause?: { code?: string } }).cause?.code;
  if ((code && NETWORK.has(code)) || e.name === 'TimeoutError') {
    const where = process.env.AWS_ENDPOINT_URL
      ? `the local AWS emulator (moto) at ${process.env.AWS_ENDPOINT_URL}`
      : 'the AWS endpoint';
    return new EndpointUnreachableError(`${operation}: cannot reach ${where} (${code ?? e.name})`, { operation });
  }
  const status = e.$metadata?.httpStatusCode ?? 0;
  if ((e.name && THROTTLE.has(e.name)) || status === 429 || status >= 500) {
    return new TransientError(`${operation}: ${e.name ?? 'error'}: ${e.message ?? ''}`.trim(), {
      operation,
      awsError: e.name,
    });
  }
  return err;
}

/** Runs an AWS call and rethrows its error classified. */
export async function awsCall<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classifyAwsError(err, operation);
  }
}
