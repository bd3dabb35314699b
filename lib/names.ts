/**
 * The names of the environment a construct is built in. Each stack records its
 * environment in its construct context (see the stacks' constructors), so any
 * construct finds its names without threading the config through every prop;
 * a construct built outside the app (unit tests) gets the default environment.
 */
import type { IConstruct } from 'constructs';
import { DEFAULT_ENVIRONMENT, type Names, names } from '../lambdas/shared/names.ts';

export const ENVIRONMENT_CONTEXT = 'aidops:environment';

export function namesOf(scope: IConstruct): Names {
  const env = scope.node.tryGetContext(ENVIRONMENT_CONTEXT);
  return names(typeof env === 'string' && env !== '' ? env : DEFAULT_ENVIRONMENT);
}
