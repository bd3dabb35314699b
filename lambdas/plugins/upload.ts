/**
 * Starts plugin admission when a Sigstore bundle lands in the staging bucket.
 *
 * Layout (like npm's tarball paths, so scoped ids keep their slash):
 *   plugins/<pluginId>/-/<version>/<artifact>                the plugin artifact
 *   plugins/<pluginId>/-/<version>/<artifact>.sigstore.json  its bundle — uploading it starts admission
 * The execution name is derived from the bundle object (bucket, key, version id), so
 * EventBridge's at-least-once delivery starts one admission per upload.
 */
import { createHash } from 'node:crypto';
import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { ValidationError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { PluginId, PluginVersion } from './registry.ts';

export const BUNDLE_SUFFIX = '.sigstore.json';
export const STAGING_PREFIX = 'plugins/';

/** The part of an EventBridge "Object Created" event from S3 this needs. */
export const ObjectCreatedEvent = z.object({
  source: z.literal('aws.s3'),
  'detail-type': z.literal('Object Created'),
  id: z.string().min(1),
  detail: z.object({
    bucket: z.object({ name: z.string().min(3).max(63) }),
    object: z.object({
      key: z.string().min(1).max(1024),
      'version-id': z.string().max(1024).optional(),
      etag: z.string().max(256).optional(),
    }),
  }),
});

export interface AdmissionRequest {
  readonly pluginId: string;
  readonly version: string;
  readonly bucket: string;
  readonly key: string;
  readonly bundleKey: string;
  readonly requestedBy: string;
}

/** Maps an upload to the workflow's input; null when the object is not a bundle under plugins/. */
export function admissionFromUpload(event: unknown): { request: AdmissionRequest; executionName: string } | null {
  const e = parseOrThrow(ObjectCreatedEvent, event, 'S3 Object Created event');
  // S3 event keys are URL-encoded (spaces as '+').
  const key = decodeURIComponent(e.detail.object.key.replace(/\+/g, ' '));
  if (!key.startsWith(STAGING_PREFIX) || !key.endsWith(BUNDLE_SUFFIX)) return null;
  const rest = key.slice(STAGING_PREFIX.length);
  const sep = rest.lastIndexOf('/-/');
  if (sep <= 0) throw layoutError(key);
  const pluginId = rest.slice(0, sep);
  const [version, ...file] = rest.slice(sep + 3).split('/');
  const artifactName = file.join('/').slice(0, -BUNDLE_SUFFIX.length);
  if (!version || file.length !== 1 || !artifactName) throw layoutError(key);
  parseOrThrow(PluginId, pluginId, 'plugin id in the staged key');
  parseOrThrow(PluginVersion, version, 'plugin version in the staged key');
  const bundleKey = key;
  const artifactKey = key.slice(0, -BUNDLE_SUFFIX.length);
  const identity = `${e.detail.bucket.name}/${key}#${e.detail.object['version-id'] ?? e.detail.object.etag ?? e.id}`;
  return {
    request: {
      pluginId,
      version,
      bucket: e.detail.bucket.name,
      key: artifactKey,
      bundleKey,
      requestedBy: 'staging-upload',
    },
    executionName: `upload-${createHash('sha256').update(identity).digest('hex').slice(0, 40)}`,
  };
}

function layoutError(key: string): ValidationError {
  return new ValidationError(
    `staged key ${key} does not follow plugins/<pluginId>/-/<version>/<artifact>${BUNDLE_SUFFIX}`,
    [{ path: 'detail.object.key', message: 'unexpected layout' }],
  );
}

/** Starts the admission; a repeated delivery of the same upload is a no-op. */
export async function startAdmissionFromUpload(
  sfn: SFNClient,
  stateMachineArn: string,
  event: unknown,
): Promise<{ started: boolean; executionName?: string; reason?: string }> {
  const m = admissionFromUpload(event);
  if (!m) return { started: false, reason: 'not a bundle under plugins/' };
  try {
    await awsCall('states:StartExecution', () =>
      sfn.send(new StartExecutionCommand({ stateMachineArn, name: m.executionName, input: JSON.stringify(m.request) })),
    );
    return { started: true, executionName: m.executionName };
  } catch (err) {
    // Same name and same input: Standard workflows treat the start as idempotent; a different input is a real conflict.
    if ((err as Error).name === 'ExecutionAlreadyExists')
      return { started: false, executionName: m.executionName, reason: 'already started' };
    throw err;
  }
}
