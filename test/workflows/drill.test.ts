/**
 * The drill end to end against moto with the real handlers: `aidops drill run` as a process launches a
 * canary session through the session workflow, starts a DRY-RUN tombstone of it (which changes nothing),
 * measures the planned time to isolation from the tombstone's history, ends the canary, and audits the
 * result with its figure. A drill held to an objective it cannot meet fails with exit 1, and is audited too.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DRILL_SOURCE, runDrill } from '../../lambdas/remediation/drill/run.ts';
import { SessionTable } from '../../lambdas/sessions/table.ts';
import { DEFAULT_ENVIRONMENT, names } from '../../lambdas/shared/names.ts';
import { Tags } from '../../lambdas/shared/tags.ts';
import { installStandins } from '../../local/standins/index.ts';
import { runCliProcess } from '../helpers/cli.ts';
import { useRuntime } from '../helpers/runtime.ts';

describe('drill (aidops drill run against the local runtime)', () => {
  const rt = useRuntime();
  const cfg = () => rt().clientConfig();
  let queue = '';
  const audited: any[] = [];
  before(async () => {
    installStandins(rt());
    const sqs = new SQSClient(cfg());
    queue = (await sqs.send(new CreateQueueCommand({ QueueName: 'drill-test-audit' }))).QueueUrl!;
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue, AttributeNames: ['QueueArn'] })))
      .Attributes!.QueueArn!;
    const eb = new EventBridgeClient(cfg());
    const bus = rt().ref('AuditIngestBus');
    await eb.send(
      new PutRuleCommand({ Name: 'drill-test-audit', EventBusName: bus, EventPattern: '{"source":["aidops"]}' }),
    );
    await eb.send(
      new PutTargetsCommand({ Rule: 'drill-test-audit', EventBusName: bus, Targets: [{ Id: 'q', Arn: arn }] }),
    );
  });
  async function auditOf(sessionId: string): Promise<any[]> {
    const sqs = new SQSClient(cfg());
    for (;;) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, MaxNumberOfMessages: 10 }));
      if (!r.Messages?.length) break;
      for (const m of r.Messages) audited.push(JSON.parse(m.Body!).detail);
    }
    return audited.filter((e) => e.sessionId === sessionId);
  }
  // The table the session functions are given, as synthesized.
  const sessions = () =>
    new SessionTable(new DynamoDBClient(cfg()), rt().functionEnv(rt().functionName('SessionsSweeper')).SESSION_TABLE!);
  async function settled(sessionId: string) {
    for (let i = 0; i < 200; i++) {
      const s = await sessions().get(sessionId);
      if (s && ['ended', 'failed', 'tombstoned'].includes(s.status)) return s;
      await new Promise((r) => setTimeout(r, 50));
    }
    return await sessions().get(sessionId);
  }
  const drill = (...args: string[]) =>
    runCliProcess(['drill', 'run', '--endpoint', rt().endpoint, '--json', '--timeout', '60', ...args]);

  it('passes: canary launched, dry-run tombstone changed nothing, figure audited, canary ended', async () => {
    const r = await drill('--objective', '60');
    assert.equal(r.code, 0, `${r.out}\n${r.err}`);
    const out = JSON.parse(r.out);
    assert.equal(out.passed, true);
    assert.match(out.sessionId, /^drill-/);
    assert.equal(out.tombstoneStatus, 'SUCCEEDED');
    assert.ok(out.timeToIsolationSeconds >= 0 && out.timeToIsolationSeconds <= 60, String(out.timeToIsolationSeconds));
    assert.equal(out.sessionEnded, true);

    // The dry run: the tombstone planned, and the canary's instance was never quarantined or tombstoned.
    const t = rt().sfn.executions.get(out.tombstoneExecution)!;
    assert.equal((t.output as any).dryRun, true);
    assert.ok((t.output as any).planned.isolation.length > 0, 'isolation planned');
    const r2 = await new EC2Client(cfg()).send(
      new DescribeInstancesCommand({ Filters: [{ Name: `tag:${Tags.SessionId}`, Values: [out.sessionId] }] }),
    );
    const inst = r2.Reservations?.[0]?.Instances?.[0];
    assert.ok(inst, 'the canary had an instance');
    const groups = (inst.SecurityGroups ?? []).map((g) => g.GroupId);
    assert.ok(!groups.includes(rt().ref('NetworkQuarantineGroup')), 'never quarantined');

    // The canary session ended through its own workflow (not tombstoned).
    const s = await settled(out.sessionId);
    assert.ok(s && ['ended', 'failed'].includes(s.status), `canary ${s?.status}`);
    assert.notEqual(s?.status, 'tombstoned');

    // The result, audited on the canary's chain with pass and the figure.
    const events = await auditOf(out.sessionId);
    const result = events.find((e) => e.source === DRILL_SOURCE);
    assert.ok(result, `drill result audited: ${JSON.stringify(events.map((e) => e.source))}`);
    assert.equal(result.kind, 'workflow');
    assert.equal(result.detail.status, 'succeeded');
    assert.equal(result.detail.durationMs, Math.round(out.timeToIsolationSeconds * 1000));
    assert.match(result.detail.step, /time to isolation \d+\.\d s \(objective 60 s\)/);
  });

  it('fails with exit 1 when the objective is not met, and audits the failure', async () => {
    const r = await drill('--objective', '0.000001');
    assert.equal(r.code, 1, `${r.out}\n${r.err}`);
    const out = JSON.parse(r.out);
    assert.equal(out.passed, false);
    assert.match(out.reason, /over the objective/);
    assert.equal(out.sessionEnded, true);
    const result = (await auditOf(out.sessionId)).find((e) => e.source === DRILL_SOURCE);
    assert.equal(result?.detail.status, 'failed');
    assert.match(result?.detail.error, /over the objective/);
  });

  it('the core (as the scheduled function runs it) emits DrillTimeToIsolation and DrillResult', async () => {
    const recorded: { name: string; unit: string; value: number; dims: Record<string, string> }[] = [];
    const c = cfg();
    const env = rt().functionEnv(rt().functionName('SessionsSweeper'));
    const listed = await new SFNClient(c).send(new ListStateMachinesCommand({}));
    const machine = (name: string) => listed.stateMachines!.find((m) => m.name === name)!.stateMachineArn!;
    const r = await runDrill(
      {
        sfn: new SFNClient(c),
        ddb: new DynamoDBClient(c),
        eventBridge: new EventBridgeClient(c),
        sessionMachineArn: machine(names(DEFAULT_ENVIRONMENT).sessionMachine),
        tombstoneMachineArn: machine(names(DEFAULT_ENVIRONMENT).tombstoneMachine),
        sessionTable: env.SESSION_TABLE!,
        busName: rt().ref('AuditIngestBus'),
        metric: (name, unit, value, dims = {}) => {
          recorded.push({ name, unit, value, dims: { ...dims } });
        },
      },
      { useCase: 'document-summary', objectiveSeconds: 60, timeoutSeconds: 60 },
    );
    assert.equal(r.passed, true, r.reason);
    assert.deepEqual(recorded, [
      { name: 'DrillTimeToIsolation', unit: 'Seconds', value: r.timeToIsolationSeconds!, dims: {} },
      { name: 'DrillResult', unit: 'Count', value: 1, dims: { Result: 'pass' } },
    ]);
  });

  it('bad usage is exit 2; help follows the conventions', async () => {
    const bad = await runCliProcess(['drill', 'run', '--objective', 'soon']);
    assert.equal(bad.code, 2, bad.err);
    const help = await runCliProcess(['drill', 'run', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /usage: aidops drill run/);
  });
});
