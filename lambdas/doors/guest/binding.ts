/**
 * Who is calling, from the platform only: API Gateway verified the SigV4
 * signature and reports the signer in `requestContext.identity`. An EC2
 * instance's role credentials are a session of its instance profile's role
 * named after the instance (`arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/i-…`),
 * so the instance id comes from AWS, not from the request. The caller is bound
 * to the session the session table records for that instance; nothing about the
 * session (tier, cohort, scopes, status) is read from the request. A request may
 * name the session it means (`?sessionId=`), as an assertion: another session's
 * id is refused, never looked up.
 */

import type { SessionItem, SessionTable } from '../../sessions/table.ts';
import { ForbiddenError } from '../../shared/errors.ts';
import type { DoorEvent } from './http.ts';

export interface Binding {
  /** The instance that signed (its role session's name). */
  readonly instanceId: string;
  /** `requestContext.identity.userArn`: the role session, as an ARN. */
  readonly callerArn: string;
  /** The session the table records for the instance, as read for this request. */
  readonly session: SessionItem;
}

const ROLE_SESSION = /^arn:aws[a-z-]*:sts::(\d{12}):assumed-role\/([^/]+)\/(i-[0-9a-f]{8,17})$/;

/** The signing instance, if the signer is an instance session of one of `roleNames` in `account`. */
export function instanceOf(
  identity: DoorEvent['requestContext']['identity'],
  roleNames: readonly string[],
  account: string,
): { instanceId: string; callerArn: string } {
  const arn = identity.userArn ?? '';
  const m = ROLE_SESSION.exec(arn);
  // `caller` is `ROLEID:SESSION`: its session part must be the same instance.
  const callerSession = (identity.caller ?? '').split(':').pop();
  if (!m || m[1] !== account || !roleNames.includes(m[2]!) || callerSession !== m[3])
    throw new ForbiddenError(`caller ${arn || '(unsigned)'} is not a session instance`, { caller: arn || null });
  return { instanceId: m[3]!, callerArn: arn };
}

/**
 * The caller's session: the one the table records for its instance. `asserted`
 * (a session id the request names) must be that session.
 */
export async function bindCaller(
  caller: { instanceId: string; callerArn: string },
  table: SessionTable,
  asserted?: string,
): Promise<Binding> {
  const session = await table.byInstance(caller.instanceId);
  if (!session)
    throw new ForbiddenError(`instance ${caller.instanceId} runs no session`, { instanceId: caller.instanceId });
  if (asserted !== undefined && asserted !== session.sessionId)
    throw new ForbiddenError(`instance ${caller.instanceId} does not run session ${asserted}`, {
      instanceId: caller.instanceId,
      asserted,
    });
  return { ...caller, session };
}
