/**
 * The one way handlers read their configuration: environment variables that
 * the constructs set. A missing or malformed value is a ConfigurationError that
 * names the variable, never a silent default that fails later.
 */
import { ConfigurationError } from './errors.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The value of `name`, or a ConfigurationError when it is unset or empty. */
export function requireEnv(name: string, env: Env = process.env): string {
  const v = env[name];
  if (v === undefined || v === '') {
    throw new ConfigurationError(`environment variable ${name} is not set (the construct sets it)`, { variable: name });
  }
  return v;
}

/** The value of `name`, or undefined when it is unset or empty. */
export function optionalEnv(name: string, env: Env = process.env): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** A finite number from `name`, `fallback` when unset; a ConfigurationError when it is not a number. */
export function numberEnv(name: string, fallback: number, env: Env = process.env): number {
  const v = optionalEnv(name, env);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) {
    throw new ConfigurationError(`environment variable ${name} must be a number, got ${JSON.stringify(v)}`, {
      variable: name,
    });
  }
  return n;
}

/** `true`/`false` from `name`, `fallback` when unset; a ConfigurationError otherwise. */
export function booleanEnv(name: string, fallback: boolean, env: Env = process.env): boolean {
  const v = optionalEnv(name, env);
  if (v === undefined) return fallback;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ConfigurationError(`environment variable ${name} must be true or false, got ${JSON.stringify(v)}`, {
    variable: name,
  });
}
