/**
 * Audits a fleet flag change from an SSM "Parameter Store Change" event, so a
 * change made in the console or with the AWS CLI is recorded like one made with
 * `aidops flags`. Env: AUDIT_BUS_NAME, FLAG_PREFIX.
 */
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { awsCall } from '../../shared/aws-errors.ts';
import { requireEnv } from '../../shared/env.ts';
import { EndpointUnreachableError, TransientError } from '../../shared/errors.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { decisionEvent } from '../audit.ts';
import { parseFlagValue } from '../flags.ts';
import { audit, ssm } from './deps.ts';

const ParameterChange = z.looseObject({
  'detail-type': z.literal('Parameter Store Change'),
  time: z.string().optional(),
  detail: z.looseObject({ operation: z.string(), name: z.string() }),
});

export const handler = makeHandler({
  inputName: 'parameter store change event',
  input: ParameterChange,
  core: async (e) => {
    const prefix = requireEnv('FLAG_PREFIX');
    const { name, operation } = e.detail;
    if (!name.startsWith(`${prefix}/`)) return { audited: false };
    const [cohort = '?', capability = '?'] = name.slice(prefix.length + 1).split('/');
    let value = 'deleted';
    if (operation !== 'Delete') {
      // Deleted again since the event, or unreadable: audited as an unrecognised value. Throttling
      // fails the invocation instead, so EventBridge retries it rather than audit a wrong value.
      const p = await awsCall(`GetParameter ${name}`, () => ssm().send(new GetParameterCommand({ Name: name }))).catch(
        (err: unknown) => {
          if (err instanceof TransientError || err instanceof EndpointUnreachableError) throw err;
          return undefined;
        },
      );
      const v = parseFlagValue(p?.Parameter?.Value);
      value = v === undefined ? `unrecognised value (ignored by readers)` : v ? 'on' : 'off';
    }
    await audit()([
      decisionEvent(
        { sessionId: null },
        { name, operation, value },
        `flags.${operation.toLowerCase()}`,
        name,
        'allow',
        [`flag ${capability} for cohort ${cohort}: ${value}`, 'source: Parameter Store Change event'],
      ),
    ]);
    return { audited: true, name, value };
  },
});
