/**
 * Typed errors shared by every capability.
 *
 * Step Functions matches `Retry`/`Catch` on `errorType`, which the Lambda runtime
 * takes from `error.name`; so every class sets a literal `name` and workflows match
 * on those literals. Only `TransientError` subclasses are retried.
 */

export type ErrorDetails = Readonly<Record<string, unknown>>;

/** Base of every error this project throws on purpose. */
export class AidopsError extends Error {
  override name: string = 'AidopsError';
  readonly details: ErrorDetails;
  constructor(message: string, details: ErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.details = details;
  }
  toJSON(): Record<string, unknown> {
    return { name: this.name, message: this.message, ...this.details };
  }
}

/** Bad input at a boundary (event, workflow input, CLI argument). Never retried. */
export class ValidationError extends AidopsError {
  override name = 'ValidationError' as const;
  readonly issues: readonly { path: string; message: string }[];
  constructor(message: string, issues: readonly { path: string; message: string }[] = [], details: ErrorDetails = {}) {
    super(message, { ...details, issues });
    this.issues = issues;
  }
}

/** A resource the request names does not exist. Never retried. */
export class NotFoundError extends AidopsError {
  override name = 'NotFoundError' as const;
}

/** A request conflicts with the current state (already done, wrong state). */
export class ConflictError extends AidopsError {
  override name = 'ConflictError' as const;
}

/** Refused by policy, a flag or a guard. Never retried. */
export class ForbiddenError extends AidopsError {
  override name = 'ForbiddenError' as const;
}

/** Throttling, timeouts, 5xx: safe to retry with backoff. */
export class TransientError extends AidopsError {
  override name = 'TransientError' as const;
}

/** The AWS endpoint (or the local emulator) cannot be reached. */
export class EndpointUnreachableError extends AidopsError {
  override name = 'EndpointUnreachableError' as const;
}

/** A deployment setting (an environment variable the construct sets) is missing or malformed. Never retried. */
export class ConfigurationError extends AidopsError {
  override name = 'ConfigurationError' as const;
}

/**
 * Base of the errors that carry a stable reason code (attestation, AMD KDS,
 * plugin verification): the code is in `reason` and in `details.reason`, the
 * message starts with the code's explanation. Subclasses set a literal `name`.
 */
export abstract class ReasonCodedError<R extends string> extends AidopsError {
  readonly reason: R;
  constructor(reason: R, message: string, details: ErrorDetails = {}, options?: ErrorOptions) {
    super(message, { ...details, reason }, options);
    this.reason = reason;
  }
}

/** Names Retry/Catch may match; kept in one place so workflows and handlers agree. */
export const ErrorNames = {
  Validation: 'ValidationError',
  NotFound: 'NotFoundError',
  Conflict: 'ConflictError',
  Forbidden: 'ForbiddenError',
  Transient: 'TransientError',
  EndpointUnreachable: 'EndpointUnreachableError',
  Configuration: 'ConfigurationError',
} as const;
