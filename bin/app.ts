#!/usr/bin/env node
/**
 * The only code that reads CDK context and the environment. It checks the
 * configuration, builds the stacks and applies cdk-nag's AwsSolutions checks.
 */
import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildStacks } from '../lib/app.ts';
import { CONTEXT_KEYS, parseConfig } from '../lib/config.ts';

const app = new App();
const ctx = (k: string): unknown => app.node.tryGetContext(k);
const config = parseConfig({
  environment: ctx(CONTEXT_KEYS.environment),
  auditRetentionDays: ctx(CONTEXT_KEYS.auditRetentionDays),
  alarmEmail: ctx(CONTEXT_KEYS.alarmEmail),
  sessions: ctx(CONTEXT_KEYS.sessions),
  trustedFindingProducts: ctx(CONTEXT_KEYS.trustedFindingProducts),
  suspiciousEgressActions: ctx(CONTEXT_KEYS.suspiciousEgressActions),
  twoPersonRule: ctx(CONTEXT_KEYS.twoPersonRule),
  peopleDoor: ctx(CONTEXT_KEYS.peopleDoor),
  operatorPrincipals: ctx(CONTEXT_KEYS.operatorPrincipals),
  slo: ctx(CONTEXT_KEYS.slo),
  drill: ctx(CONTEXT_KEYS.drill),
  pluginTrustPolicy: ctx(CONTEXT_KEYS.pluginTrustPolicyFile)
    ? readFileSync(String(ctx(CONTEXT_KEYS.pluginTrustPolicyFile)), 'utf8')
    : undefined,
  account: process.env.CDK_DEFAULT_ACCOUNT,
  region: process.env.CDK_DEFAULT_REGION,
});
buildStacks(app, config);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
