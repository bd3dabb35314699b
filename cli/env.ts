/**
 * `--env NAME`: which environment's resources a command works on (default
 * $AIDOPS_ENV, else dev). Names come from the one names module the stack uses;
 * explicit flags (`--table`, `--machine`, …) still override.
 */
import { DEFAULT_ENVIRONMENT, type Names, names } from '../lambdas/shared/names.ts';
import type { CliIo } from './args.ts';

export const envOption = {
  env: { type: 'string', value: 'NAME', help: 'environment (default $AIDOPS_ENV, else dev)' },
} as const;

export function environmentOf(env: string | undefined, io: Pick<CliIo, 'env'>): string {
  return env ?? io.env.AIDOPS_ENV ?? DEFAULT_ENVIRONMENT;
}

export function cliNames(env: string | undefined, io: Pick<CliIo, 'env'>): Names {
  return names(environmentOf(env, io));
}
