/** What starts a tombstone: the execution input from the console, the CLI or the trigger. */
import * as z from 'zod';
import { InstanceId, IsoTime, SessionId } from '../../shared/ids.ts';

export const TombstoneRequest = z
  .strictObject({
    sessionId: SessionId.optional(),
    instanceId: InstanceId.optional(),
    reason: z.string().trim().min(1, 'reason is required').max(512),
    /** What triggered it: the EventBridge event id, a finding id, or e.g. `manual:INC-1234`. */
    source: z.string().trim().min(1, 'source is required').max(256),
    /** Who or what asked: a person, or `automatic:<rule>`. */
    requestedBy: z.string().trim().min(1, 'requestedBy is required').max(256),
    dryRun: z.boolean().default(false),
    /** The triggering event's own time (set by the trigger): time to isolation is measured from it. */
    triggeredAt: IsoTime.optional(),
    /** Set by the trigger when the blast-radius guard held the request (the machine waits for a slot). */
    held: z.boolean().default(false),
    /** Also associate a deny-all network ACL with the instance's subnet (affects every instance there). */
    isolateSubnet: z.boolean().default(false),
    /** auto: stop the agent through SSM where reachable, else stop (hibernate) the instance. */
    freeze: z.enum(['auto', 'stop', 'none']).default('auto'),
    /** Hibernate instead of stop when the instance was launched with hibernation configured. */
    allowHibernate: z.boolean().default(true),
  })
  .refine((r) => r.sessionId !== undefined || r.instanceId !== undefined, {
    message: 'name a sessionId or an instanceId',
    path: ['sessionId'],
  });
export type TombstoneRequest = z.output<typeof TombstoneRequest>;
