/**
 * Session workflow step 1: validate and admit.
 * Env: SESSIONS_RUNTIME (JSON, see RuntimeConfig), SESSION_TABLE, FLAG_PREFIX,
 * FLAG_CACHE_SECONDS (≤ 30), AUDIT_BUS_NAME, POLICY_PARAMETER (optional: SSM parameter of the active policy; its version is recorded).
 */
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { awsCall } from '../../shared/aws-errors.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../shared/env.ts';
import { EndpointUnreachableError, TransientError } from '../../shared/errors.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { admit } from '../admit.ts';
import { FlagReader, SsmFlags } from '../flags.ts';
import { RuntimeConfig } from '../model.ts';
import { audit, ssm, table } from './deps.ts';

let flags: FlagReader | undefined;
let config: RuntimeConfig | undefined;

async function policyVersion(): Promise<string> {
  const p = optionalEnv('POLICY_PARAMETER');
  if (!p) return 'unversioned';
  // A missing or unreadable parameter leaves the session unversioned; throttling is retried by the workflow.
  const r = await awsCall(`GetParameter ${p}`, () => ssm().send(new GetParameterCommand({ Name: p }))).catch(
    (e: unknown) => {
      if (e instanceof TransientError || e instanceof EndpointUnreachableError) throw e;
      return undefined;
    },
  );
  return r?.Parameter?.Version ? `${p}@${r.Parameter.Version}` : 'unversioned';
}

export const handler = makeHandler({
  inputName: 'admit input',
  input: z.object({ request: z.unknown(), requestId: z.string(), executionArn: z.string() }),
  core: async (input) => {
    config ??= RuntimeConfig.parse(JSON.parse(requireEnv('SESSIONS_RUNTIME')));
    const store = new SsmFlags(ssm(), requireEnv('FLAG_PREFIX'));
    flags ??= new FlagReader(() => store.list(), { ttlMs: numberEnv('FLAG_CACHE_SECONDS', 30) * 1000 });
    return await admit(input, { config, flags, table: table(), audit: audit(), policyVersion });
  },
});
