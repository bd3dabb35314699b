/**
 * Loaded before every test file (`node --test --import ./test/setup.ts`).
 * Property tests use a fixed seed so CI is reproducible; FC_SEED=random (or a
 * number) explores other inputs locally, and a failure prints its seed.
 */
import * as fc from 'fast-check';

const env = process.env.FC_SEED;
if (env !== 'random') fc.configureGlobal({ seed: env ? Number(env) : 20261129 });
