import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { nagFindings, testApp } from '../helpers/synth.ts';

describe('cdk-nag AwsSolutions', () => {
  it('has zero unacknowledged findings in every stack', () => {
    const { app } = testApp({}, true);
    const findings = nagFindings(app);
    assert.deepEqual(findings, [], findings.map((f) => `${f.rule} at ${f.path}`).join('\n'));
  });

  it('reports a finding that is not acknowledged (the check can fail)', () => {
    const app = new App();
    new s3.Bucket(new Stack(app, 'Bad'), 'Open');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const rules = nagFindings(app).map((f) => f.rule);
    assert.ok(rules.includes('AwsSolutions-S1') && rules.includes('AwsSolutions-S10'), rules.join(','));
  });
});
