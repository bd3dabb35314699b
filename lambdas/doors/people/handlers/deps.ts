/**
 * What the people's door builds from its environment (module scope: reused while warm).
 * Env: AUDIT_BUS_NAME, INCIDENT_TABLE, RESTORE_MACHINE_ARN, TOMBSTONE_MACHINE_ARN,
 * PLUGIN_APPROVAL_TABLE, SCOPE_REQUEST_TABLE, FLAG_PREFIX, TWO_PERSON_RULE (the kinds it
 * binds, comma-separated; default restore,scope).
 */
import { dynamoIncidentStore } from '../../../remediation/incidents.ts';
import { SsmFlags } from '../../../sessions/flags.ts';
import { audit, ddb, sfn, ssm } from '../../../sessions/handlers/deps.ts';
import { optionalEnv, requireEnv } from '../../../shared/env.ts';
import type { PeopleDoorDeps } from '../door.ts';
import { pluginPending, restorePending, scopePending, sfnAnswers } from '../stores.ts';
import { parseTwoPersonRule } from '../two-person.ts';

export function peopleDoorDeps(): PeopleDoorDeps {
  const restoreMachineArn = requireEnv('RESTORE_MACHINE_ARN');
  return {
    pending: {
      restore: restorePending(dynamoIncidentStore(ddb(), requireEnv('INCIDENT_TABLE')), restoreMachineArn),
      plugin: pluginPending(ddb(), requireEnv('PLUGIN_APPROVAL_TABLE')),
      scope: scopePending(ddb(), requireEnv('SCOPE_REQUEST_TABLE')),
    },
    tasks: sfnAnswers(sfn()),
    twoPersonRule: parseTwoPersonRule(optionalEnv('TWO_PERSON_RULE')),
    audit: audit(),
    sfn: sfn(),
    restoreMachineArn,
    tombstoneMachineArn: requireEnv('TOMBSTONE_MACHINE_ARN'),
    flags: new SsmFlags(ssm(), requireEnv('FLAG_PREFIX')),
    now: () => new Date(),
  };
}
