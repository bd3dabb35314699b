/**
 * The one classifier of AWS SDK and network errors, used by handlers, the CLI
 * and the local runtime alike: unreachable endpoint → EndpointUnreachableError,
 * throttling and 5xx → TransientError (the only errors workflows retry);
 * anything already typed, or not recognized, is returned as is.
 */
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
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
]);
/** Messages of network failures whose code the SDK does not carry over. */
const NETWORK_MESSAGE = /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|getaddrinfo|socket hang up|connect ETIMEDOUT/;

interface SdkErrorShape {
  name?: string;
  code?: string;
  errno?: string;
  message?: string;
  cause?: { code?: string };
  $metadata?: { httpStatusCode?: number };
}

/** The network error code of `err` (`ECONNREFUSED`, …), or undefined when it is not a network failure. */
export function networkFailure(err: unknown): string | undefined {
  const e = (err ?? {}) as SdkErrorShape;
  const code = e.code ?? e.cause?.code ?? e.errno;
  if (code && NETWORK_CODES.has(code)) return code;
  if (e.name === 'TimeoutError' || e.name === 'RequestTimeout') return e.name;
  const m = NETWORK_MESSAGE.exec(e.message ?? '');
  return m ? m[0] : undefined;
}

/** HTTP status of an SDK error, 0 when it has none. */
export function httpStatusOf(err: unknown): number {
  return ((err ?? {}) as SdkErrorShape).$metadata?.httpStatusCode ?? 0;
}

export interface ClassifyOptions {
  /** The endpoint the call went to, for the message. @default process.env.AWS_ENDPOINT_URL, else "the AWS endpoint" */
  readonly endpoint?: string | undefined;
}

/** Maps an AWS SDK (or network) error to the project's typed errors. */
export function classifyAwsError(err: unknown, operation: string, opts: ClassifyOptions = {}): unknown {
  if (err instanceof AidopsError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const net = networkFailure(err);
  if (net) {
    const endpoint = opts.endpoint ?? process.env.AWS_ENDPOINT_URL;
    const where = endpoint ? `the local AWS emulator (moto) at ${endpoint}` : 'the AWS endpoint';
    return new EndpointUnreachableError(`${operation}: cannot reach ${where} (${net})`, { operation, endpoint });
  }
  const status = httpStatusOf(err);
  if ((e.name && THROTTLE.has(e.name)) || status === 429 || status >= 500) {
    return new TransientError(`${operation}: ${e.name ?? 'error'}: ${e.message ?? ''}`.trim(), {
      operation,
      awsError: e.name,
    });
  }
  return err;
}

/** Runs an AWS call and rethrows its error classified. */
export async function awsCall<T>(operation: string, fn: () => Promise<T>, opts: ClassifyOptions = {}): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classifyAwsError(err, operation, opts);
  }
}
