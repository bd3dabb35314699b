/**
 * AWS client configuration shared by handlers, the CLI and the local runtime.
 *
 * Pure modules take clients as arguments; this file only decides how a client is
 * configured. `AWS_ENDPOINT_URL` (honoured by SDK v3 itself) points every client at
 * the local emulator; S3 then needs path-style addressing, because
 * `bucket.127.0.0.1` does not resolve.
 */
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface ClientOptions {
  /** @default process.env.AWS_ENDPOINT_URL (unset in AWS) */
  readonly endpoint?: string;
  /** @default process.env.AWS_REGION */
  readonly region?: string;
}

export interface AwsClientConfig {
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  forcePathStyle?: boolean;
  maxAttempts?: number;
  requestHandler?: NodeHttpHandler;
}

/** Config for any SDK v3 client; pass to `new XClient(awsClientConfig())`. */
export function awsClientConfig(opts: ClientOptions = {}): AwsClientConfig {
  const endpoint = opts.endpoint ?? process.env.AWS_ENDPOINT_URL;
  const region = opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const cfg: AwsClientConfig = { region };
  if (endpoint) {
    cfg.endpoint = endpoint;
    cfg.forcePathStyle = true;
    // A local emulator has no real credentials; use the SDK's chain only in AWS.
    if (!process.env.AWS_ACCESS_KEY_ID) cfg.credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
    // Fail fast on a dead emulator instead of retrying connection refusals for long.
    cfg.requestHandler = new NodeHttpHandler({ connectionTimeout: 2000, requestTimeout: 30_000 });
  }
  return cfg;
}
