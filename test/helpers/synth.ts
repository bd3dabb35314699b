import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildStacks } from '../../lib/app.ts';
import { type AppConfig, parseConfig } from '../../lib/config.ts';
import { cdkJsonContext } from '../../local/asl/template.ts';

const apps = new Map<string, { app: App; stacks: ReturnType<typeof buildStacks> }>();

/**
 * The app with cdk.json's context and esbuild bundling skipped (tests read
 * templates, not bundles), built once per config (and nag choice) in a process:
 * synthesis costs seconds. Shared: read its templates, add nothing to it.
 */
export function testApp(config: Partial<AppConfig> = {}, withNag = false) {
  const key = JSON.stringify([config, withNag]);
  const built = apps.get(key);
  if (built) return built;
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const stacks = buildStacks(app, parseConfig({ ...config }));
  if (withNag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  apps.set(key, { app, stacks });
  return { app, stacks };
}

export interface NagFinding {
  readonly rule: string;
  readonly path: string;
}

/** Synthesizes `app` (with the AwsSolutions plugin) and returns every unacknowledged finding. */
export function nagFindings(app: App): NagFinding[] {
  try {
    app.synth();
    return [];
  } catch (e) {
    const m = /found in: (\S+)/.exec((e as Error).message);
    if (!m) throw e;
    const report = JSON.parse(readFileSync(m[1]!, 'utf8')) as {
      pluginReports: { violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
    };
    return report.pluginReports.flatMap((p) =>
      p.violations.flatMap((v) => v.violatingConstructs.map((c) => ({ rule: v.ruleName, path: c.constructPath }))),
    );
  }
}
