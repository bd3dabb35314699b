/**
 * The local AWS gateway: one HTTP endpoint in front of moto that
 *  - records every AWS call (service, action, status, start and end) for timelines,
 *  - injects faults on chosen calls (e.g. EC2 RequestLimitExceeded) to prove retries,
 *  - serves the Step Functions API from the local runtime (moto cannot run our
 *    machines with in-process handlers: see local/asl/sfn-api.ts, a named stand-in),
 *  - forwards everything else to moto unchanged, and hands chosen calls' request
 *    and response to observers (the API Gateway stand-in learns moto-issued
 *    credentials this way: STS AssumeRole…, IAM CreateAccessKey).
 * Real SDK v3 clients point at it with AWS_ENDPOINT_URL.
 *
 * Calls made inside `inBackground(…)` (the local event-source pollers and
 * schedules, which in AWS are the services' own machinery) are recorded apart,
 * in `backgroundCalls`, and never take an injected fault: a timeline or a fault
 * a test aims at a workflow sees only the workflow's calls.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';
import {
  type ClientRequest,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AwsCallRecord {
  readonly service: string;
  readonly action: string;
  readonly status: number;
  readonly start: number;
  readonly end: number;
  readonly injected?: string;
}

export interface Fault {
  readonly service: string;
  readonly action: string;
  /** How many matching calls fail before the fault wears off. */
  remaining: number;
  /** AWS error code, e.g. RequestLimitExceeded or ThrottlingException. */
  readonly code: string;
  /** @default 503 */
  readonly status?: number;
}

/** A forwarded call's request and moto's whole response, seen before the client gets it. */
export interface ObservedCall {
  readonly service: string;
  readonly action: string;
  readonly status: number;
  readonly requestHeaders: IncomingHttpHeaders;
  readonly requestBody: Buffer;
  readonly responseBody: Buffer;
}

export type LocalServiceHandler = (action: string, body: unknown) => Promise<{ status: number; body: unknown }>;

export interface Gateway {
  readonly endpoint: string;
  /** Every call, in arrival order, except the background ones. */
  readonly calls: AwsCallRecord[];
  /** Calls made inside `inBackground` (event-source pollers, schedules). */
  readonly backgroundCalls: AwsCallRecord[];
  inject(fault: Omit<Fault, 'remaining'> & { count: number }): void;
  clearFaults(): void;
  /** Serves a JSON-protocol service locally (e.g. 'states'). */
  serve(service: string, handler: LocalServiceHandler): void;
  /** Calls `fn` with every forwarded call of these actions, before its response reaches the client. */
  observe(service: string, actions: readonly string[], fn: (call: ObservedCall) => void): void;
  /** Makes the upstream (moto) unreachable, to test how clients report a dead emulator. */
  stop(): Promise<void>;
}

const BACKGROUND_HEADER = 'x-aidops-background';
const background = new AsyncLocalStorage<true>();
let tagging = false;

/**
 * Runs `fn` as background work: every HTTP request it makes, through any SDK
 * client of this process and in anything it starts, carries a header the
 * gateway recognizes (set when the request is created; the AsyncLocalStorage
 * context follows the promises `fn` starts).
 */
export function inBackground<T>(fn: () => Promise<T>): Promise<T> {
  if (!tagging) {
    tagging = true;
    subscribe('http.client.request.created', (message) => {
      if (background.getStore()) (message as { request: ClientRequest }).request.setHeader(BACKGROUND_HEADER, '1');
    });
  }
  return background.run(true, fn);
}

function serviceOf(req: IncomingMessage): string {
  const auth = req.headers.authorization ?? '';
  const m = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(auth);
  return m?.[1] ?? 'unknown';
}

function actionOf(req: IncomingMessage, body: Buffer, service: string): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target.split('.').pop() ?? target;
  const ct = req.headers['content-type'] ?? '';
  if (ct.includes('x-www-form-urlencoded')) {
    const a = new URLSearchParams(body.toString('utf8')).get('Action');
    if (a) return a;
  }
  const url = new URL(req.url ?? '/', 'http://x');
  if (service === 's3') {
    const parts = url.pathname.split('/').filter(Boolean);
    const q = [...url.searchParams.keys()];
    const sub = q.find((k) =>
      [
        'uploads',
        'versions',
        'retention',
        'legal-hold',
        'object-lock',
        'versioning',
        'tagging',
        'policy',
        'encryption',
        'logging',
        'publicAccessBlock',
      ].includes(k),
    );
    const what = parts.length <= 1 ? 'Bucket' : 'Object';
    return `${req.method}${what}${sub ? `:${sub}` : ''}`;
  }
  return `${req.method} ${url.pathname}`;
}

function faultResponse(res: ServerResponse, service: string, f: Fault): void {
  const status = f.status ?? 503;
  const msg = `Injected by the local gateway: ${f.code}`;
  if (['ec2', 'iam', 'sts', 'sns', 'autoscaling'].includes(service)) {
    res.writeHead(status, { 'content-type': 'text/xml' });
    res.end(
      service === 'ec2'
        ? `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${f.code}</Code><Message>${msg}</Message></Error></Errors><RequestID>injected</RequestID></Response>`
        : `<ErrorResponse><Error><Type>Sender</Type><Code>${f.code}</Code><Message>${msg}</Message></Error><RequestId>injected</RequestId></ErrorResponse>`,
    );
  } else if (service === 's3') {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(`<Error><Code>${f.code}</Code><Message>${msg}</Message></Error>`);
  } else {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-errortype': f.code });
    res.end(JSON.stringify({ __type: f.code, message: msg }));
  }
}

export async function startGateway(upstream: string): Promise<Gateway> {
  const up = new URL(upstream);
  const calls: AwsCallRecord[] = [];
  const backgroundCalls: AwsCallRecord[] = [];
  let faults: Fault[] = [];
  const local = new Map<string, LocalServiceHandler>();
  const observers: { service: string; actions: readonly string[]; fn: (call: ObservedCall) => void }[] = [];

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const service = serviceOf(req);
      const action = actionOf(req, body, service);
      const start = Date.now();
      const bg = req.headers[BACKGROUND_HEADER] !== undefined;
      const record = bg ? backgroundCalls : calls;
      const fault = bg
        ? undefined
        : faults.find((f) => f.remaining > 0 && f.service === service && f.action === action);
      if (fault) {
        fault.remaining--;
        record.push({ service, action, status: fault.status ?? 503, start, end: Date.now(), injected: fault.code });
        faultResponse(res, service, fault);
        return;
      }
      const handler = local.get(service);
      if (handler) {
        let parsed: unknown = {};
        try {
          parsed = body.length ? JSON.parse(body.toString('utf8')) : {};
        } catch {
          parsed = null;
        }
        handler(action, parsed)
          .then(({ status, body: out }) => {
            record.push({ service, action, status, start, end: Date.now() });
            res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
            res.end(JSON.stringify(out));
          })
          .catch((e: Error) => {
            record.push({ service, action, status: 500, start, end: Date.now() });
            res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
            res.end(JSON.stringify({ __type: 'InternalFailure', message: e.message }));
          });
        return;
      }
      const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: up.host };
      delete headers[BACKGROUND_HEADER];
      const fwd = request(
        { hostname: up.hostname, port: up.port, method: req.method, path: req.url, headers },
        (upRes) => {
          const status = upRes.statusCode ?? 502;
          const watching = observers.filter((o) => o.service === service && o.actions.includes(action));
          upRes.on('end', () => record.push({ service, action, status, start, end: Date.now() }));
          if (watching.length === 0) {
            res.writeHead(status, upRes.headers);
            upRes.pipe(res);
            return;
          }
          // Observed: the whole response is read and shown to the observers before the client sees it.
          const parts: Buffer[] = [];
          upRes.on('data', (c: Buffer) => parts.push(c));
          upRes.on('end', () => {
            const responseBody = Buffer.concat(parts);
            const call = { service, action, status, requestHeaders: req.headers, requestBody: body, responseBody };
            for (const o of watching) o.fn(call);
            res.writeHead(status, upRes.headers);
            res.end(responseBody);
          });
        },
      );
      fwd.on('error', (e) => {
        record.push({ service, action, status: 502, start, end: Date.now() });
        // The client sees a dropped connection, as it would with the emulator gone.
        res.destroy(e);
      });
      fwd.end(body);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    backgroundCalls,
    inject(f) {
      faults.push({ service: f.service, action: f.action, code: f.code, status: f.status, remaining: f.count });
    },
    clearFaults() {
      faults = [];
    },
    serve(service, handler) {
      local.set(service, handler);
    },
    observe(service, actions, fn) {
      observers.push({ service, actions, fn });
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
