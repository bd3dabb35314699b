/**
 * The guests' door as a guest sees it, through the local API Gateway stand-in:
 * requests signed (SigV4, `@smithy/signature-v4`) with the credentials moto
 * issues to an instance (its instance-profile role, assumed with the instance
 * id as the session name), and sessions driven to the attestation wait.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SessionTable } from '../../lambdas/sessions/table.ts';
import { names } from '../../lambdas/shared/names.ts';
import type { LocalCredentials, LocalRuntime } from '../../local/runtime.ts';
import { type ApiResponse, callApi } from '../../local/standins/api-gateway/client.ts';

/** Logical id prefix of the door's REST API (and of its function). */
export const DOOR = 'SessionsGuestDoor';

export const sessionTable = (rt: LocalRuntime) =>
  new SessionTable(new DynamoDBClient(rt.clientConfig()), names().sessionTable);

/**
 * What EC2 gives an instance: `rt.instanceCredentials` for an instance moto launched; for one
 * it cannot launch (a real document's), the same role session, made directly.
 */
export async function guestCredentials(rt: LocalRuntime, instanceId: string): Promise<LocalCredentials> {
  return await rt.instanceCredentials(instanceId).catch(() => rt.assumeRole('SessionsInstanceRole', instanceId));
}

export interface DoorCall {
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A guest's client of the door: `get('session')`, `post('nonce')`, `post('telemetry', {events})`. */
export function guest(rt: LocalRuntime, credentials?: LocalCredentials) {
  const url = (path: string, query?: Readonly<Record<string, string>>) =>
    `${rt.apiEndpoint(DOOR)}v1/${path}${query ? `?${new URLSearchParams(query)}` : ''}`;
  return {
    get: async (path: string, opts: DoorCall = {}): Promise<ApiResponse> =>
      await callApi(url(path, opts.query), { credentials, headers: { ...opts.headers } }),
    post: async (path: string, body: unknown = {}, opts: DoorCall = {}): Promise<ApiResponse> =>
      await callApi(url(path, opts.query), {
        method: 'POST',
        credentials,
        body: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...opts.headers },
      }),
  };
}

/** Starts a session and waits until it is attesting with its token stored on the session item. */
export async function attestingSession(
  rt: LocalRuntime,
  sessionId: string,
  input: Record<string, unknown>,
  executionName = sessionId,
) {
  const exec = rt.sfn.start(names().sessionMachine, { ttl: '1h', ...input }, executionName);
  const parked = await rt.sfn.waitForPending(
    (p) => p.stateName === 'Wait for attestation' && p.executionArn.endsWith(`:${executionName}`),
    20_000,
  );
  const sessions = sessionTable(rt);
  for (let i = 0; i < 200; i++) {
    const item = await sessions.get(sessionId);
    if (item?.attestToken === parked.token && item.instanceId) return { exec, sessions, item };
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${sessionId}: the attestation token never reached the session table`);
}
