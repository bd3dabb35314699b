/**
 * The guests' door as HTTP: the part of API Gateway's proxy event (REST,
 * payload 1.0) the door reads, JSON bodies checked with zod, and answers. Every
 * refusal is a typed error with its status (400 ValidationError naming the
 * field, 403 ForbiddenError, 404 NotFoundError, 409 ConflictError, 429
 * TooManyRequestsError, 503 for a transient failure); anything else is thrown,
 * so API Gateway answers 502 and the function's error metric counts it.
 */
import * as z from 'zod';
import { AidopsError, ValidationError } from '../../shared/errors.ts';
import { parseOrThrow } from '../../shared/validation.ts';

/** A caller went over its own limit (the per-caller counter on its session). */
export class TooManyRequestsError extends AidopsError {
  override name = 'TooManyRequestsError' as const;
}

/** The largest body a route reads unless it says otherwise: any 10 telemetry events fit one PutEvents call (256 KB). */
const MAX_BODY_BYTES = 200_000;

export const DoorEvent = z.looseObject({
  resource: z.string().max(256),
  httpMethod: z.string().max(16),
  // Not bounded here: a bad value is the route's typed 400, not a refused event (which would be a 502).
  queryStringParameters: z.record(z.string(), z.string()).nullish(),
  body: z.string().nullish(),
  isBase64Encoded: z.boolean().optional(),
  requestContext: z.looseObject({
    requestId: z.string().max(128),
    /** The API's own account (API Gateway's); a guest signs in the same one. */
    accountId: z.string().max(32),
    identity: z.looseObject({
      userArn: z.string().max(2048).nullish(),
      caller: z.string().max(2048).nullish(),
      accountId: z.string().max(32).nullish(),
    }),
  }),
});
export type DoorEvent = z.output<typeof DoorEvent>;

export interface DoorReply {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const HEADERS = {
  'content-type': 'application/json',
  // Answers carry nonces and sealed secrets: nothing on the way may keep them.
  'cache-control': 'no-store',
} as const;

export function ok(body: unknown, statusCode = 200): DoorReply {
  return { statusCode, headers: HEADERS, body: JSON.stringify(body) };
}

const STATUS: Readonly<Record<string, number>> = {
  ValidationError: 400,
  ForbiddenError: 403,
  NotFoundError: 404,
  ConflictError: 409,
  TooManyRequestsError: 429,
  TransientError: 503,
  EndpointUnreachableError: 503,
};

/** The typed error as an answer, or undefined for an error the door does not expect (it is rethrown). */
export function refusal(e: unknown): DoorReply | undefined {
  if (!(e instanceof AidopsError)) return undefined;
  const statusCode = STATUS[e.name];
  if (statusCode === undefined) return undefined;
  const issues = e instanceof ValidationError && e.issues.length > 0 ? { issues: e.issues } : {};
  return {
    statusCode,
    headers: statusCode === 429 || statusCode === 503 ? { ...HEADERS, 'retry-after': '1' } : HEADERS,
    body: JSON.stringify({ error: e.name, message: e.message, ...issues }),
  };
}

/** The JSON body, checked with `schema`; too large, not JSON or not the shape: a ValidationError naming why. */
export function jsonBody<S extends z.ZodType>(
  event: DoorEvent,
  schema: S,
  what: string,
  maxBytes = MAX_BODY_BYTES,
): z.output<S> {
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text) > maxBytes)
    throw new ValidationError(`the ${what} is larger than ${maxBytes} bytes`, [
      { path: '(body)', message: `larger than ${maxBytes} bytes` },
    ]);
  let parsed: unknown;
  try {
    parsed = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new ValidationError(`the ${what} is not JSON`, [{ path: '(body)', message: 'invalid JSON' }]);
  }
  return parseOrThrow(schema, parsed, what);
}
