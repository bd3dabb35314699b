/**
 * Local Step Functions: runs the synthesized ASL with aws-local-stepfunctions,
 * routing every Task to the real thing:
 *  - Lambda tasks (function ARN or lambda:invoke) → the real handler, in-process;
 *  - `aws-sdk:SERVICE:ACTION` and optimized integrations (sns, sqs, events,
 *    dynamodb) → the AWS SDK v3 client for that service, against moto;
 *  - `.waitForTaskToken` → parks the token until SendTaskSuccess/Failure arrives
 *    (from a test, the demo, the CLI or a handler, through the SFN API stand-in);
 *  - `states:startExecution(.sync)` → a child execution here.
 * It also serves the Step Functions API (the named local stand-in for SFN).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { StateMachine } from 'aws-local-stepfunctions';

type EventLog = { type: string; timestamp: number; state?: { name: string }; Error?: string; Cause?: unknown };

import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../emulator/moto.ts';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface TimelineEntry {
  readonly t: number;
  readonly type: string;
  readonly state?: string;
  readonly error?: string;
  readonly cause?: string;
}

export interface Execution {
  readonly executionArn: string;
  readonly name: string;
  readonly stateMachineArn: string;
  readonly stateMachineName: string;
  readonly input: Json;
  readonly startDate: number;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  stopDate?: number;
  output?: Json;
  error?: string;
  cause?: string;
  readonly timeline: TimelineEntry[];
  readonly done: Promise<Execution>;
  abort?: () => void;
}

export interface PendingTask {
  readonly token: string;
  readonly executionArn: string;
  readonly stateName: string;
  readonly resource: string;
  readonly input: Json;
  readonly since: number;
}

export class TaskFailure extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export interface LocalSfnOptions {
  readonly endpoint: string;
  readonly machines: ReadonlyMap<string, { name: string; arn: string; definition: unknown }>;
  readonly invokeLambda: (functionRef: string, payload: Json) => Promise<Json>;
  /** Every Wait state waits this many ms instead. @default as defined */
  readonly waitMs?: number;
  /** Every Retry interval becomes this many ms. @default as defined */
  readonly retryMs?: number;
}

const SDK_MODULES: Record<string, { pkg: string; client: string; errPrefix: string }> = {
  ec2: { pkg: '@aws-sdk/client-ec2', client: 'EC2Client', errPrefix: 'Ec2' },
  s3: { pkg: '@aws-sdk/client-s3', client: 'S3Client', errPrefix: 'S3' },
  kms: { pkg: '@aws-sdk/client-kms', client: 'KMSClient', errPrefix: 'Kms' },
  secretsmanager: {
    pkg: '@aws-sdk/client-secrets-manager',
    client: 'SecretsManagerClient',
    errPrefix: 'SecretsManager',
  },
  dynamodb: { pkg: '@aws-sdk/client-dynamodb', client: 'DynamoDBClient', errPrefix: 'DynamoDb' },
  ssm: { pkg: '@aws-sdk/client-ssm', client: 'SSMClient', errPrefix: 'Ssm' },
  sns: { pkg: '@aws-sdk/client-sns', client: 'SNSClient', errPrefix: 'Sns' },
  sqs: { pkg: '@aws-sdk/client-sqs', client: 'SQSClient', errPrefix: 'Sqs' },
  iam: { pkg: '@aws-sdk/client-iam', client: 'IAMClient', errPrefix: 'Iam' },
  eventbridge: { pkg: '@aws-sdk/client-eventbridge', client: 'EventBridgeClient', errPrefix: 'EventBridge' },
  events: { pkg: '@aws-sdk/client-eventbridge', client: 'EventBridgeClient', errPrefix: 'EventBridge' },
  sfn: { pkg: '@aws-sdk/client-sfn', client: 'SFNClient', errPrefix: 'Sfn' },
  sts: { pkg: '@aws-sdk/client-sts', client: 'STSClient', errPrefix: 'Sts' },
};

const TOKEN_PREFIX = 'aidops-local-token-';
const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Dates → ISO strings, drops SDK metadata: what Step Functions hands the next state. */
function toJson(v: unknown): Json {
  return JSON.parse(
    JSON.stringify(v, (k, x) => {
      if (k === '$metadata') return undefined;
      if (x instanceof Uint8Array) return Buffer.from(x).toString('base64');
      return x;
    }) ?? 'null',
  ) as Json;
}

function findToken(v: unknown): string | undefined {
  if (typeof v === 'string') return v.startsWith(TOKEN_PREFIX) ? v : undefined;
  if (Array.isArray(v)) {
    for (const x of v) {
      const t = findToken(x);
      if (t) return t;
    }
  } else if (v && typeof v === 'object') {
    for (const x of Object.values(v)) {
      const t = findToken(x);
      if (t) return t;
    }
  }
  return undefined;
}

interface StateInfo {
  name: string;
  def: Record<string, any>;
}
function allStates(def: any, acc: StateInfo[] = []): StateInfo[] {
  for (const [name, s] of Object.entries<any>(def?.States ?? {})) {
    acc.push({ name, def: s });
    for (const b of s.Branches ?? []) allStates(b, acc);
    if (s.Iterator) allStates(s.Iterator, acc);
    if (s.ItemProcessor) allStates(s.ItemProcessor, acc);
  }
  return acc;
}

export class LocalStepFunctions {
  readonly executions = new Map<string, Execution>();
  readonly pending = new Map<string, PendingTask & { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  readonly events = new EventEmitter();
  private readonly clients = new Map<string, any>();
  private readonly opts: LocalSfnOptions;

  constructor(opts: LocalSfnOptions) {
    this.opts = opts;
    this.events.setMaxListeners(100);
  }

  machine(nameOrArn: string) {
    for (const m of this.opts.machines.values()) if (m.arn === nameOrArn || m.name === nameOrArn) return m;
    return undefined;
  }

  /** Starts an execution; a second start with the same name and input returns the first (as SFN Standard does). */
  start(machineNameOrArn: string, input: Json, name?: string): Execution {
    const m = this.machine(machineNameOrArn);
    if (!m) throw new TaskFailure('StateMachineDoesNotExist', `state machine ${machineNameOrArn} does not exist`);
    const execName = name ?? randomUUID();
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(execName))
      throw new TaskFailure('InvalidName', `invalid execution name: ${execName}`);
    const executionArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${m.name}:${execName}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      if (JSON.stringify(existing.input) === JSON.stringify(input)) return existing;
      throw new TaskFailure('ExecutionAlreadyExists', `execution ${execName} already exists with another input`);
    }
    const timeline: TimelineEntry[] = [];
    const startDate = Date.now();
    let resolveDone!: (e: Execution) => void;
    const done = new Promise<Execution>((r) => {
      resolveDone = r;
    });
    const exec: Execution = {
      executionArn,
      name: execName,
      stateMachineArn: m.arn,
      stateMachineName: m.name,
      input,
      startDate,
      status: 'RUNNING',
      timeline,
      done,
    };
    this.executions.set(executionArn, exec);
    this.run(exec, m.definition, resolveDone);
    return exec;
  }

  private run(exec: Execution, definition: any, resolveDone: (e: Execution) => void): void {
    const states = allStates(definition);
    const taskHandlers: Record<string, (input: any) => Promise<Json>> = {};
    const waitOverrides: Record<string, number> = {};
    const retryOverrides: Record<string, number> = {};
    for (const s of states) {
      if (s.def.Type === 'Task') taskHandlers[s.name] = (input) => this.task(exec, s.name, s.def, input);
      if (s.def.Type === 'Wait' && this.opts.waitMs !== undefined) waitOverrides[s.name] = this.opts.waitMs;
      if (s.def.Retry && this.opts.retryMs !== undefined) retryOverrides[s.name] = this.opts.retryMs;
    }
    const sm = new StateMachine(definition, { validationOptions: { checkArn: false, checkPaths: false } });
    const context = {
      Execution: {
        Id: exec.executionArn,
        Name: exec.name,
        StartTime: new Date(exec.startDate).toISOString(),
        Input: exec.input,
        RoleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/local`,
      },
      StateMachine: { Id: exec.stateMachineArn, Name: exec.stateMachineName },
      // A fresh token each time a state reads $$.Task.Token.
      Task: {
        get Token() {
          return `${TOKEN_PREFIX}${randomUUID()}`;
        },
      },
    };
    const run = sm.run(exec.input, {
      overrides: {
        taskResourceLocalHandlers: taskHandlers,
        waitTimeOverrides: waitOverrides,
        retryIntervalOverrides: retryOverrides,
      },
      context,
    });
    exec.abort = run.abort;
    const timeline = exec.timeline as TimelineEntry[];
    const logsDone = (async () => {
      for await (const ev of run.eventLogs as unknown as AsyncGenerator<EventLog>) {
        const e = ev;
        timeline.push({
          t: e.timestamp,
          type: e.type,
          state: e.state?.name,
          error: e.Error,
          cause: e.Cause === undefined ? undefined : String(e.Cause),
        });
      }
    })().catch(() => undefined);
    const settled = run.result.then(
      (out: Json) => ({ ok: true as const, out }),
      (err: Error) => ({ ok: false as const, err }),
    );
    // Resolve only after the event log is drained, so timelines are complete.
    Promise.all([settled, logsDone]).then(([r]) => (r.ok ? onOk(r.out) : onErr(r.err)));
    const onOk = (out: Json) => {
      exec.status = 'SUCCEEDED';
      exec.output = out;
      exec.stopDate = Date.now();
      this.events.emit('done', exec);
      resolveDone(exec);
    };
    const onErr = (err: Error & { cause?: unknown }) => {
      const inner = (err as { cause?: { name?: string; message?: string } }).cause;
      exec.status =
        err.name === 'ExecutionAbortedError'
          ? 'ABORTED'
          : err.name === 'ExecutionTimeoutError'
            ? 'TIMED_OUT'
            : 'FAILED';
      // The library wraps the state's error; surface the one the workflow raised.
      exec.error = inner?.name ?? err.name;
      exec.cause = inner?.message ?? err.message;
      exec.stopDate = Date.now();
      this.releasePending(exec.executionArn);
      this.events.emit('done', exec);
      resolveDone(exec);
    };
  }

  private async task(exec: Execution, stateName: string, def: Record<string, any>, input: any): Promise<Json> {
    const resource = String(def.Resource);
    const waitToken = resource.endsWith('.waitForTaskToken');
    const base = waitToken ? resource.slice(0, -'.waitForTaskToken'.length) : resource;
    let parked: Promise<Json> | undefined;
    if (waitToken) {
      const token = findToken(input);
      if (!token)
        throw new TaskFailure(
          'States.Runtime',
          `${stateName}: .waitForTaskToken task has no $$.Task.Token in its parameters`,
        );
      parked = new Promise<Json>((resolve, reject) => {
        this.pending.set(token, {
          token,
          executionArn: exec.executionArn,
          stateName,
          resource,
          input,
          since: Date.now(),
          resolve,
          reject,
        });
      });
      parked.catch(() => undefined);
      this.events.emit('pending', this.pending.get(token));
    }
    const result = await this.callResource(base, input, stateName);
    if (parked) return await parked;
    return result;
  }

  private async callResource(resource: string, input: any, stateName: string): Promise<Json> {
    if (resource.startsWith('arn:aws:lambda:')) {
      return await this.opts.invokeLambda(resource, input);
    }
    const m = /^arn:aws:states:::(.+)$/.exec(resource);
    if (!m) throw new TaskFailure('States.Runtime', `${stateName}: resource ${resource} is not supported locally`);
    const spec = m[1]!;
    if (spec === 'lambda:invoke') {
      const payload = await this.opts.invokeLambda(String(input.FunctionName), (input.Payload ?? null) as Json);
      return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 };
    }
    if (spec.startsWith('states:startExecution')) {
      const child = this.start(String(input.StateMachineArn), (input.Input ?? {}) as Json, input.Name);
      if (!spec.includes('.sync'))
        return { ExecutionArn: child.executionArn, StartDate: new Date(child.startDate).toISOString() };
      const fin = await child.done;
      if (fin.status !== 'SUCCEEDED')
        throw new TaskFailure(fin.error ?? 'States.TaskFailed', fin.cause ?? 'child execution failed');
      return spec.endsWith(':2')
        ? { ExecutionArn: fin.executionArn, Output: fin.output ?? null, Status: fin.status }
        : { ExecutionArn: fin.executionArn, Output: JSON.stringify(fin.output ?? null), Status: fin.status };
    }
    const sdk = /^aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)$/.exec(spec);
    const optimized = /^(sns|sqs|events|dynamodb):([A-Za-z0-9]+)$/.exec(spec);
    const match = sdk ?? optimized;
    if (!match) throw new TaskFailure('States.Runtime', `${stateName}: integration ${spec} is not supported locally`);
    const service = match[1]!;
    const action = match[2]!;
    return await this.sdkCall(service, action, input ?? {});
  }

  private async sdkCall(service: string, action: string, params: Record<string, unknown>): Promise<Json> {
    const mod = SDK_MODULES[service];
    if (!mod) throw new TaskFailure('States.Runtime', `aws-sdk:${service} has no local client`);
    const lib = (await import(mod.pkg)) as Record<string, any>;
    let client = this.clients.get(service);
    if (!client) {
      client = new lib[mod.client](awsClientConfig({ endpoint: this.opts.endpoint, region: LOCAL_REGION }));
      this.clients.set(service, client);
    }
    const Cmd = lib[`${pascal(action)}Command`];
    if (!Cmd) throw new TaskFailure('States.Runtime', `aws-sdk:${service}:${action} is not an action of ${mod.pkg}`);
    try {
      return toJson(await client.send(new Cmd(params)));
    } catch (e) {
      const err = e as Error & { code?: string };
      if (['ECONNREFUSED', 'ECONNRESET'].includes(err.code ?? '') || err.name === 'TimeoutError') {
        throw new TaskFailure(
          'States.TaskFailed',
          `aws-sdk:${service}:${action}: cannot reach the local AWS emulator at ${this.opts.endpoint}`,
        );
      }
      // As Step Functions names SDK errors: Service.ExceptionName (EC2 has only Ec2Exception).
      const n = service === 'ec2' ? 'Ec2Exception' : err.name.endsWith('Exception') ? err.name : `${err.name}Exception`;
      throw new TaskFailure(`${mod.errPrefix}.${n}`, `${err.name}: ${err.message}`);
    }
  }

  // ---- callbacks (tests, demo, CLI, handlers via the API) ----

  sendTaskSuccess(token: string, output: Json): void {
    const p = this.pending.get(token);
    if (!p) throw new TaskFailure('TaskDoesNotExist', 'task token is unknown or already answered');
    this.pending.delete(token);
    p.resolve(output);
  }

  sendTaskFailure(token: string, error: string, cause: string): void {
    const p = this.pending.get(token);
    if (!p) throw new TaskFailure('TaskDoesNotExist', 'task token is unknown or already answered');
    this.pending.delete(token);
    p.reject(new TaskFailure(error || 'States.TaskFailed', cause ?? ''));
  }

  /**
   * Resolves when a task matching `pred` parks its token. Abort `signal` when the
   * answer no longer matters (e.g. the execution ended first), so its timer does
   * not keep the process alive.
   */
  async waitForPending(
    pred: (p: PendingTask) => boolean,
    timeoutMs = 30_000,
    signal?: AbortSignal,
  ): Promise<PendingTask> {
    for (const p of this.pending.values()) if (pred(p)) return p;
    return await new Promise<PendingTask>((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        this.events.off('pending', on);
        signal?.removeEventListener('abort', aborted);
      };
      const t = setTimeout(() => {
        done();
        reject(new Error(`no task token matched within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (p: PendingTask) => {
        if (pred(p)) {
          done();
          resolve(p);
        }
      };
      const aborted = () => {
        done();
        reject(new Error('no longer waiting for a task token'));
      };
      this.events.on('pending', on);
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }

  stopAll(): void {
    for (const e of this.executions.values()) {
      if (e.status === 'RUNNING') {
        e.abort?.();
        this.releasePending(e.executionArn);
      }
    }
  }

  /**
   * Rejects an ended execution's parked tokens, so their task promises settle and the
   * executor clears its task timers (otherwise a long TimeoutSeconds keeps the process alive).
   */
  private releasePending(executionArn: string): void {
    for (const [tok, p] of this.pending) {
      if (p.executionArn !== executionArn) continue;
      this.pending.delete(tok);
      p.reject(new TaskFailure('States.Runtime', 'the execution ended while this task waited for its token'));
    }
  }

  // ---- the Step Functions API stand-in (JSON protocol, served by the gateway) ----

  async api(action: string, body: any): Promise<{ status: number; body: unknown }> {
    const ok = (b: unknown) => ({ status: 200, body: b });
    const fail = (type: string, message: string, status = 400) => ({ status, body: { __type: type, message } });
    const describe = (e: Execution) => ({
      executionArn: e.executionArn,
      stateMachineArn: e.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: e.startDate / 1000,
      stopDate: e.stopDate === undefined ? undefined : e.stopDate / 1000,
      input: JSON.stringify(e.input),
      output: e.output === undefined ? undefined : JSON.stringify(e.output),
      error: e.error,
      cause: e.cause,
    });
    try {
      switch (action) {
        case 'StartExecution': {
          const e = this.start(String(body.stateMachineArn), JSON.parse(body.input ?? '{}') as Json, body.name);
          return ok({ executionArn: e.executionArn, startDate: e.startDate / 1000 });
        }
        case 'DescribeExecution': {
          const e = this.executions.get(String(body.executionArn));
          return e ? ok(describe(e)) : fail('ExecutionDoesNotExist', `execution ${body.executionArn} does not exist`);
        }
        case 'ListExecutions': {
          const list = [...this.executions.values()]
            .filter((e) => !body.stateMachineArn || e.stateMachineArn === body.stateMachineArn)
            .filter((e) => !body.statusFilter || e.status === body.statusFilter)
            .sort((a, b) => b.startDate - a.startDate)
            .map((e) => ({ ...describe(e), input: undefined, output: undefined, error: undefined, cause: undefined }));
          return ok({ executions: list });
        }
        case 'ListStateMachines':
          return ok({
            stateMachines: [...this.opts.machines.values()].map((m) => ({
              stateMachineArn: m.arn,
              name: m.name,
              type: 'STANDARD',
              creationDate: 0,
            })),
          });
        case 'SendTaskSuccess':
          this.sendTaskSuccess(String(body.taskToken), JSON.parse(body.output ?? 'null') as Json);
          return ok({});
        case 'SendTaskFailure':
          this.sendTaskFailure(
            String(body.taskToken),
            String(body.error ?? 'States.TaskFailed'),
            String(body.cause ?? ''),
          );
          return ok({});
        case 'SendTaskHeartbeat':
          if (!this.pending.has(String(body.taskToken))) return fail('TaskDoesNotExist', 'task token is unknown');
          return ok({});
        case 'StopExecution': {
          const e = this.executions.get(String(body.executionArn));
          if (!e) return fail('ExecutionDoesNotExist', 'no such execution');
          e.abort?.();
          this.releasePending(e.executionArn);
          return ok({ stopDate: Date.now() / 1000 });
        }
        case 'GetExecutionHistory': {
          const e = this.executions.get(String(body.executionArn));
          if (!e) return fail('ExecutionDoesNotExist', 'no such execution');
          return ok({
            // Shaped like the real API: state names live in the *EventDetails the SDK keeps.
            events: e.timeline.map((t, i) => ({
              id: i + 1,
              timestamp: t.t / 1000,
              type: t.type,
              ...(t.type === 'StateEntered' ? { stateEnteredEventDetails: { name: t.state } } : {}),
              ...(t.type === 'StateExited' ? { stateExitedEventDetails: { name: t.state } } : {}),
              ...(t.error ? { executionFailedEventDetails: { error: t.error, cause: t.cause } } : {}),
            })),
          });
        }
        default:
          return fail('UnknownOperationException', `the local Step Functions stand-in does not implement ${action}`);
      }
    } catch (e) {
      return fail((e as Error).name, (e as Error).message);
    }
  }
}
