/**
 * `npm run demo`: the whole control plane on an emulated AWS, no account.
 * Starts moto behind the local gateway, provisions the synthesized app, runs
 * the workflows with their real handlers, prints readable timelines, and stops
 * everything (or, with --keep, leaves the emulator up for inspection).
 */
import { parseArgs } from 'node:util';
import type { DemoContext } from './demo-section.ts';
import { demoSections } from './demo-sections.ts';
import { demoSessionsConfig } from './demo-sessions.ts';
import { LocalRuntime } from './runtime.ts';
import { SCHEDULE_SPEEDUP } from './schedules.ts';

const { values } = parseArgs({
  options: { keep: { type: 'boolean', default: false }, verbose: { type: 'boolean', default: false } },
  strict: true,
});

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const out = (s = '') => process.stdout.write(`${s}\n`);

const t0 = Date.now();
out(bold('ai-desktop-ops demo: the control plane on a local AWS emulator (moto), no account needed'));
// The session profiles pin the images of the real documents the demo attests with.
const rt = await LocalRuntime.start({
  logLevel: values.verbose ? 'INFO' : 'SILENT',
  // API Gateway's stage limits, as in AWS: one bucket shared by every caller (the door keeps per-caller limits).
  apiThrottleScope: 'method',
  config: { sessions: demoSessionsConfig() } as never,
});
out(`emulator: moto (pid ${rt.moto.pid}) behind the local gateway at ${rt.endpoint}; ready in ${Date.now() - t0} ms`);
out(
  `provisioned from the synthesized templates: ${rt.provisioned.resources.size} resources, ` +
    `${rt.provisioned.stateMachines.size} state machines, ${rt.provisioned.functions.size} functions (run in-process)`,
);
const short = (id: string) => id.replace(/[0-9A-F]{8}$/, '');
const plan = rt.schedules.plan();
out(
  `between calls, as in AWS: ${rt.provisioned.eventSources.length} SQS event-source mapping(s) polled continuously; ` +
    `schedules ${SCHEDULE_SPEEDUP}× faster, none more often than every ${3600 / SCHEDULE_SPEEDUP} s: ` +
    plan
      .filter((p) => p.everyMs !== undefined)
      .map((p) => `${short(p.rule)} ${p.expression} → every ${p.everyMs! / 1000} s`)
      .join(', '),
);
out(
  `  on demand only: ${plan
    .filter((p) => p.onDemandOnly)
    .map((p) => `${short(p.rule)} (${p.onDemandOnly})`)
    .join(', ')}`,
);

let failed = 0;
const ctx: DemoContext = { rt, out, bold };
try {
  for (const section of demoSections) {
    out();
    out(bold(`== ${section.title}`));
    const s0 = Date.now();
    try {
      await section.run(ctx);
      out(`(${section.title}: ${Date.now() - s0} ms)`);
    } catch (e) {
      failed++;
      out(`FAILED: ${(e as Error).stack ?? String(e)}`);
    }
  }
  out();
  out(bold('Where to look'));
  out(`  moto's dashboard (every resource the demo made): ${rt.moto.endpoint}/moto-api/`);
  out(`  AWS CLI:  aws --endpoint-url ${rt.endpoint} --region us-east-1 ec2 describe-snapshots --owner-ids self`);
  out(`  aidops:   npm run aidops -- --help   (each command takes --endpoint ${rt.endpoint})`);
  if (values.keep) {
    out();
    out(bold(`--keep: the emulator stays up at ${rt.endpoint} (Step Functions API served locally). Ctrl-C to stop.`));
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  }
} finally {
  await rt.stop();
  out(`emulator stopped; demo took ${Date.now() - t0} ms${failed ? `; ${failed} section(s) FAILED` : ''}`);
}
process.exitCode = failed ? 1 : 0;
