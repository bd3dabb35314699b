/**
 * The local control plane: moto behind the recording gateway, the app's
 * resources provisioned from the synthesized templates, and the state machines
 * run in-process with the real handlers. Between calls it behaves like AWS
 * (unless started with `continuous: false`): SQS event-source mappings poll
 * continuously and schedules fire on their own, faster (./event-sources.ts,
 * ./schedules.ts). REST APIs in the templates are served by the API Gateway
 * stand-in (./standins/api-gateway/, `apiEndpoint()`), which checks SigV4
 * against the credentials moto issued (`assumeRole()`, `instanceCredentials()`).
 * Used by tests, `npm run demo` and the benchmarks; one instance per test file.
 */
import { pathToFileURL } from 'node:url';
import { DescribeInstancesCommand, DescribeLaunchTemplateVersionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetInstanceProfileCommand, IAMClient } from '@aws-sdk/client-iam';
import { SQSClient } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { type AwsClientConfig, awsClientConfig } from '../lambdas/shared/clients.ts';
import type { AppConfig } from '../lib/config.ts';
import { provision } from './asl/provision.ts';
import type { Provisioned } from './asl/provisioners/types.ts';
import { type Execution, type Json, LocalStepFunctions, TaskFailure } from './asl/sfn-local.ts';
import { resolve, type SynthesizedStack, synthesize } from './asl/template.ts';
import { type AwsCallRecord, type Gateway, startGateway } from './emulator/gateway.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION, type MotoServer, startMoto } from './emulator/moto.ts';
import { PROJECT_ROOT } from './emulator/setup.ts';
import { type DeliveryCounts, EventSourceMappings } from './event-sources.ts';
import { localContext } from './lambda-context.ts';
import { SCHEDULE_SPEEDUP, Schedules } from './schedules.ts';
import { IssuedCredentials } from './standins/api-gateway/credentials.ts';
import { hasRestApis, restApisOf } from './standins/api-gateway/model.ts';
import { ApiGatewayStandIn } from './standins/api-gateway/server.ts';
import { deliverLogEvents, type LogDelivery } from './standins/log-subscriptions.ts';

export interface LocalRuntimeOptions {
  /** Reuse stacks synthesized once per test file. @default synthesize() */
  readonly stacks?: readonly SynthesizedStack[];
  readonly config?: Partial<AppConfig>;
  /** Wait states wait this many ms. @default 0 */
  readonly waitMs?: number;
  /** Retry intervals become this many ms. @default 10 */
  readonly retryMs?: number;
  /** Handler log level (Powertools). @default 'SILENT' */
  readonly logLevel?: 'SILENT' | 'ERROR' | 'WARN' | 'INFO' | 'DEBUG';
  /**
   * Run event-source mappings and schedules on their own between calls, as AWS
   * does. Off, nothing is delivered until `pumpEventSources()` / `fireSchedule()`.
   * @default true
   */
  readonly continuous?: boolean;
  /** Local time runs this many times faster for schedules and message retries. @default SCHEDULE_SPEEDUP (360) */
  readonly speedup?: number;
  /** The API Gateway stand-in's throttle buckets: per caller, or per method as in AWS. @default 'caller' */
  readonly apiThrottleScope?: 'caller' | 'method';
}

/** Credentials as the SDK takes them (`credentials:` of any client, or a SigV4 signer). */
export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

export interface TimelineRow {
  readonly t: number;
  readonly kind: 'state' | 'aws' | 'lambda';
  readonly what: string;
  readonly detail: string;
  readonly ms?: number;
}

export class LocalRuntime {
  readonly moto: MotoServer;
  readonly gateway: Gateway;
  readonly stacks: readonly SynthesizedStack[];
  readonly sfn: LocalStepFunctions;
  readonly invocations: { t: number; fn: string; ms: number; error?: string }[] = [];
  provisioned: Provisioned;
  /** The SQS event-source mappings' stand-in. */
  readonly eventSources: EventSourceMappings;
  /** The schedules' stand-in (`schedules.plan()` says how each runs). */
  readonly schedules: Schedules;
  private standIn?: ApiGatewayStandIn;
  private readonly modules = new Map<string, Promise<(e: unknown, c: unknown) => Promise<unknown>>>();

  private constructor(
    moto: MotoServer,
    gateway: Gateway,
    stacks: readonly SynthesizedStack[],
    provisioned: Provisioned,
    opts: LocalRuntimeOptions,
  ) {
    this.moto = moto;
    this.gateway = gateway;
    this.stacks = stacks;
    this.provisioned = provisioned;
    this.sfn = new LocalStepFunctions({
      endpoint: gateway.endpoint,
      machines: provisioned.stateMachines,
      invokeLambda: (ref, payload) => this.invoke(ref, payload),
      waitMs: opts.waitMs ?? 0,
      retryMs: opts.retryMs ?? 10,
    });
    gateway.serve('states', (action, body) => this.sfn.api(action, body));
    const speedup = opts.speedup ?? SCHEDULE_SPEEDUP;
    this.eventSources = new EventSourceMappings(provisioned.eventSources, provisioned.resources, {
      sqs: new SQSClient(this.clientConfig()),
      invoke: (fn, event) => this.invoke(fn, event),
      speedup,
    });
    this.schedules = new Schedules(provisioned.schedules, {
      fireTarget: async (arn, event) =>
        arn.includes(':states:') ? ((await this.execute(arn, event)).output ?? null) : await this.invoke(arn, event),
      entryOf: (arn) => {
        const fn = this.provisioned.functions.get(functionNameOf(arn));
        return (fn?.resource.Metadata as Record<string, string> | undefined)?.['aidops:entry'];
      },
      speedup,
    });
    if (opts.continuous ?? true) {
      this.eventSources.start();
      this.schedules.start();
    }
  }

  static async start(opts: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
    const stacks = opts.stacks ?? (await synthesize(opts.config));
    const moto = await startMoto();
    try {
      const gateway = await startGateway(moto.endpoint);
      // Handlers and SDK clients created from here on talk to the gateway.
      process.env.AWS_ENDPOINT_URL = gateway.endpoint;
      process.env.AWS_REGION = LOCAL_REGION;
      process.env.AWS_ACCESS_KEY_ID = 'testing';
      process.env.AWS_SECRET_ACCESS_KEY = 'testing';
      process.env.POWERTOOLS_LOG_LEVEL = opts.logLevel ?? 'SILENT';
      process.env.POWERTOOLS_METRICS_DISABLED = 'true';
      process.env.POWERTOOLS_TRACE_ENABLED = 'false';
      // Watched from the start, so every credential moto issues can sign a request to a REST API.
      const credentials = hasRestApis(stacks) ? new IssuedCredentials(moto.endpoint) : undefined;
      credentials?.watch(gateway);
      const provisioned = await provision(stacks, gateway.endpoint);
      const rt = new LocalRuntime(moto, gateway, stacks, provisioned, opts);
      if (credentials) {
        rt.standIn = await ApiGatewayStandIn.start({
          apis: restApisOf(stacks, provisioned),
          credentials,
          invoke: (fn, event) => rt.invoke(fn, event),
          region: LOCAL_REGION,
          accountId: LOCAL_ACCOUNT,
          throttleScope: opts.apiThrottleScope,
        }).catch(async (e: unknown) => {
          await rt.stop();
          throw e;
        });
      }
      return rt;
    } catch (e) {
      await moto.stop();
      throw e;
    }
  }

  /**
   * Log lines written to the log group whose logical id starts with `logGroupPrefix`, delivered
   * through its subscription filters (stand-in: ./standins/log-subscriptions.ts).
   */
  async deliverLogEvents(logGroupPrefix: string, lines: readonly string[]): Promise<LogDelivery[]> {
    return await deliverLogEvents(this, logGroupPrefix, lines);
  }

  /** The REST APIs' stand-in (./standins/api-gateway/), when the templates have any. */
  get apiGateway(): ApiGatewayStandIn | undefined {
    return this.standIn;
  }

  /**
   * `http://127.0.0.1:PORT/STAGE/`: the stand-in's URL of the first REST API whose
   * logical id starts with `prefix` (its only stage unless `stage` names one).
   */
  apiEndpoint(prefix: string, stage?: string): string {
    if (!this.standIn) throw new Error('the synthesized templates have no REST API');
    return this.standIn.endpoint(prefix, stage);
  }

  /**
   * Assumes a role in moto (an ARN, or the logical id prefix of a role in the
   * templates) and returns the session's credentials; the API Gateway stand-in
   * knows them as `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
   */
  async assumeRole(role: string, sessionName: string, durationSeconds = 3600): Promise<LocalCredentials> {
    const roleArn = role.startsWith('arn:') ? role : this.roleArn(role);
    const sts = new STSClient(this.clientConfig());
    const r = await sts.send(
      new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: durationSeconds }),
    );
    const c = r.Credentials!;
    return {
      accessKeyId: c.AccessKeyId!,
      secretAccessKey: c.SecretAccessKey!,
      sessionToken: c.SessionToken!,
      expiration: c.Expiration!,
    };
  }

  /**
   * What an instance's role credentials are in EC2: its instance profile's role, assumed with
   * the instance id as the session name. The profile is the instance's, else its launch
   * template's (moto does not apply a template's IamInstanceProfile; EC2 does).
   */
  async instanceCredentials(instanceId: string): Promise<LocalCredentials> {
    const cfg = this.clientConfig();
    const ec2 = new EC2Client(cfg);
    const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const inst = d.Reservations?.[0]?.Instances?.[0];
    let profileArn = inst?.IamInstanceProfile?.Arn;
    const template = inst?.Tags?.find((t) => t.Key === 'aws:ec2launchtemplate:id')?.Value;
    if (!profileArn && template) {
      const version = inst?.Tags?.find((t) => t.Key === 'aws:ec2launchtemplate:version')?.Value;
      const v = await ec2.send(
        new DescribeLaunchTemplateVersionsCommand({
          LaunchTemplateId: template,
          ...(version ? { Versions: [version] } : {}),
        }),
      );
      const p = v.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.IamInstanceProfile;
      profileArn = p?.Arn ?? (p?.Name ? `instance-profile/${p.Name}` : undefined);
    }
    if (!profileArn) throw new Error(`instance ${instanceId} has no instance profile`);
    const ip = await new IAMClient(cfg).send(
      new GetInstanceProfileCommand({ InstanceProfileName: profileArn.split('/').pop()! }),
    );
    const roleArn = ip.InstanceProfile?.Roles?.[0]?.Arn;
    if (!roleArn) throw new Error(`instance profile ${profileArn} has no role`);
    return await this.assumeRole(roleArn, instanceId);
  }

  private roleArn(prefix: string): string {
    for (const [id, p] of this.provisioned.resources)
      if (id.startsWith(prefix) && p.type === 'AWS::IAM::Role') return p.attrs.Arn!;
    throw new Error(`no role ${prefix}* in the synthesized templates`);
  }

  get endpoint(): string {
    return this.gateway.endpoint;
  }

  clientConfig(): AwsClientConfig {
    return awsClientConfig({ endpoint: this.gateway.endpoint, region: LOCAL_REGION });
  }

  /** Physical id (Ref) of the first resource whose logical id starts with `prefix`. */
  ref(prefix: string): string {
    for (const [id, p] of this.provisioned.resources) if (id.startsWith(prefix)) return p.ref;
    throw new Error(`no local resource with logical id ${prefix}*`);
  }

  /** Logical id (the local function name) of the first function whose logical id starts with `prefix`. */
  functionName(prefix: string): string {
    for (const id of this.provisioned.functions.keys()) if (id.startsWith(prefix)) return id;
    throw new Error(`no function ${prefix}* in the synthesized app`);
  }

  /** Invokes a function's real handler in-process, with its environment from the template. */
  async invoke(functionRef: string, payload: Json): Promise<Json> {
    const name = functionNameOf(functionRef);
    const fn = this.provisioned.functions.get(name);
    if (!fn)
      throw new TaskFailure('Lambda.ResourceNotFoundException', `function ${name} is not in the synthesized app`);
    const env = this.functionEnv(name);
    Object.assign(process.env, env);
    let mod = this.modules.get(name);
    if (!mod) {
      const meta = (fn.resource.Metadata ?? {}) as Record<string, string>;
      const entry = meta['aidops:entry'];
      if (!entry)
        throw new TaskFailure('Lambda.ResourceNotFoundException', `function ${name} has no aidops:entry metadata`);
      const url = `${pathToFileURL(`${PROJECT_ROOT}/${entry}`).href}?fn=${name}`;
      const exportName = meta['aidops:handler'] ?? 'handler';
      mod = import(url).then(
        (m: Record<string, unknown>) => m[exportName] as (e: unknown, c: unknown) => Promise<unknown>,
      );
      this.modules.set(name, mod);
    }
    const handler = await mod;
    const t = Date.now();
    try {
      if (process.env.AIDOPS_DEBUG_INVOKE) console.error('invoke', name, JSON.stringify(payload));
      const out = await handler(JSON.parse(JSON.stringify(payload)), localContext(name));
      if (process.env.AIDOPS_DEBUG_INVOKE) console.error('  ->', JSON.stringify(out));
      this.invocations.push({ t, fn: name, ms: Date.now() - t });
      return (out === undefined ? null : JSON.parse(JSON.stringify(out))) as Json;
    } catch (e) {
      this.invocations.push({ t, fn: name, ms: Date.now() - t, error: (e as Error).name });
      throw e;
    }
  }

  private readonly envs = new Map<string, Record<string, string>>();

  /** A function's environment from the template, resolved once. */
  functionEnv(name: string): Record<string, string> {
    const cached = this.envs.get(name);
    if (cached) return cached;
    const fn = this.provisioned.functions.get(name);
    if (!fn) return {};
    const props = (fn.resource.Properties ?? {}) as { Environment?: { Variables?: Record<string, unknown> } };
    const vars = resolve(props.Environment?.Variables ?? {}, {
      resources: this.provisioned.resources,
      exports: this.provisioned.exports,
      stackName: fn.stackName,
    }) as Record<string, unknown>;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(vars)) if (k !== 'NODE_OPTIONS') out[k] = String(v);
    this.envs.set(name, out);
    return out;
  }

  /**
   * Delivers what the SQS event-source mappings have queued (./event-sources.ts)
   * and returns per-mapping counts. Continuous: waits (bounded) until every
   * mapping found its queue empty, and counts the distinct messages delivered
   * since the previous pump. Manual: receives and delivers now, in this call.
   */
  async pumpEventSources(opts: { maxBatches?: number; timeoutMs?: number } = {}): Promise<DeliveryCounts[]> {
    return this.eventSources.running ? await this.eventSources.drain(opts) : await this.eventSources.pumpOnce(opts);
  }

  /** Fires the in-process targets of the schedules whose rule's logical id starts with the prefix, now. */
  async fireSchedule(ruleLogicalIdPrefix: string): Promise<Json[]> {
    return await this.schedules.fire(ruleLogicalIdPrefix);
  }

  /** Starts an execution of the named machine and waits for it to end. */
  async execute(machine: string, input: unknown, name?: string): Promise<Execution> {
    return await this.sfn.start(machine, input as Json, name).done;
  }

  /** State events, Lambda invocations and AWS calls of one execution's window, in time order. */
  timeline(exec: Execution): TimelineRow[] {
    const end = exec.stopDate ?? Date.now();
    const rows: TimelineRow[] = [];
    const entered = new Map<string, number>();
    const enteredSeq = new Map<string, number>();
    const seqOf = new Map<TimelineRow, number>();
    for (const [i, e] of exec.timeline.entries()) {
      if (e.type === 'StateEntered' && e.state) {
        entered.set(e.state, e.t);
        enteredSeq.set(e.state, i);
      }
      if (
        e.type === 'StateExited' ||
        e.type === 'StateFailed' ||
        e.type === 'StateRetried' ||
        e.type === 'StateCaught'
      ) {
        const t0 = e.state ? (entered.get(e.state) ?? e.t) : e.t;
        const row: TimelineRow = {
          t: t0,
          kind: 'state',
          what: e.state ?? '',
          detail:
            e.type === 'StateExited'
              ? 'ok'
              : `${e.type.replace('State', '').toLowerCase()}${e.error ? `: ${e.error}` : ''}`,
          ms: e.t - t0,
        };
        rows.push(row);
        seqOf.set(row, e.state ? (enteredSeq.get(e.state) ?? i) : i);
      }
    }
    for (const c of this.gateway.calls) {
      if (c.start >= exec.startDate && c.start <= end && c.service !== 'states') rows.push(awsRow(c));
    }
    // Same-millisecond states keep the order they were entered in; AWS calls follow the state they ran in.
    return rows.sort(
      (a, b) =>
        a.t - b.t ||
        (a.kind === 'state' && b.kind === 'state'
          ? (seqOf.get(a) ?? 0) - (seqOf.get(b) ?? 0)
          : a.kind === 'state'
            ? -1
            : 1),
    );
  }

  formatTimeline(exec: Execution): string {
    const rows = this.timeline(exec);
    const t0 = exec.startDate;
    const lines = rows.map((r) => {
      const at = `+${String(r.t - t0).padStart(5)} ms`;
      const dur = r.ms === undefined ? '' : `${r.ms} ms`;
      const kind = r.kind === 'state' ? 'STATE' : '  aws';
      return `${at}  ${kind}  ${r.what.padEnd(44)} ${dur.padStart(8)}  ${r.detail}`;
    });
    const total = (exec.stopDate ?? Date.now()) - exec.startDate;
    return [
      `${exec.stateMachineName} / ${exec.name}: ${exec.status}${exec.error ? ` (${exec.error}: ${exec.cause})` : ''} in ${total} ms`,
      ...lines,
    ].join('\n');
  }

  /** Stops the REST APIs' stand-in, the pollers and schedules, every execution, the gateway and moto. */
  async stop(): Promise<void> {
    await this.standIn?.stop();
    await this.eventSources.stop();
    await this.schedules.stop();
    this.sfn.stopAll();
    await this.gateway.stop().catch(() => undefined);
    await this.moto.stop();
  }
}

/** The function name in a Lambda ARN (or the name itself). */
function functionNameOf(ref: string): string {
  return ref.includes(':function:') ? ref.split(':function:')[1]!.split(':')[0]! : ref;
}

function awsRow(c: AwsCallRecord): TimelineRow {
  return {
    t: c.start,
    kind: 'aws',
    what: `${c.service}:${c.action}`,
    detail: c.injected ? `HTTP ${c.status} (injected ${c.injected})` : `HTTP ${c.status}`,
    ms: c.end - c.start,
  };
}
