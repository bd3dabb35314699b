/**
 * Audits a fleet flag change from an SSM "Parameter Store Change" event, so a
 * change made in the console or with the AWS CLI is recorded like one made with
 * `aidops flags`. Env: AUDIT_BUS_NAME, FLAG_PREFIX.
 */
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { makeHandler } from '../../shared/middleware.ts';
import { decisionEvent } from '../audit.ts';
import { parseFlagValue } from '../flags.ts';
import { audit, env, ssm } from './deps.ts';

const ParameterChange = z.looseObject({
  'detail-type': z.literal('Parameter Store Change'),
  time: z.string().optional(),
  detail: z.looseObject({ operation: z.string(), name: z.string() }),
});

export const handler = makeHandler({
  inputName: 'parameter store change event',
  input: ParameterChange,
  core: async (e) => {
    const prefix = env('FLAG_PREFIX');
    const { name, operation } = e.detail;
    if (!name.startsWith(`${prefix}/`)) return { audited: false };
    const [cohort = '?', capability = '?'] = name.slice(prefix.length + 1).split('/');
    let value = 'deleted';
    if (operation !== 'Delete') {
      const p = await ssm()
        .send(new GetParameterCommand({ Name: name }))
        .catch(() => undefined);
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
