/**
 * Registry lookup for the policy engine's plugin_exec: input {pluginId, version, digest, now?}
 * → {admitted, revoked, expired, digestMatches, allowed, expiresAt, publisher}. The registry
 * instance lives at module scope so its ≤ 30 s read cache spans warm invocations.
 */
import * as z from 'zod';
import { makeHandler } from '../../shared/middleware.ts';
import { PluginId, type PluginRegistry, PluginVersion, Sha256Digest } from '../registry.ts';
import { registry } from './deps.ts';

let reg: PluginRegistry | undefined;

export const handler = makeHandler({
  inputName: 'is-allowed input',
  input: z.strictObject({
    pluginId: PluginId,
    version: PluginVersion,
    digest: Sha256Digest,
    now: z.iso.datetime().optional(),
  }),
  core: async (i) => {
    reg ??= registry();
    return reg.isAllowed(i.pluginId, i.version, i.digest, i.now ? new Date(i.now) : new Date());
  },
});
