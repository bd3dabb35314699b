/**
 * Step "Publish decision": a decision event (as a step returned it, or a refusal the
 * workflow decided) → the audit bus. Env: AUDIT_BUS_NAME, POLICY_VERSION (optional).
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { awsClientConfig } from '../../shared/clients.ts';
import { ValidationError } from '../../shared/errors.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { PublishDecisionInput, publishDecision } from '../workflow.ts';

const eventBridge = new EventBridgeClient(awsClientConfig());

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new ValidationError(`environment variable ${name} is not set`);
  return v;
}

export const handler = makeHandler({
  inputName: 'publish-decision input',
  input: PublishDecisionInput,
  core: async (input) =>
    publishDecision(
      { eventBridge, busName: env('AUDIT_BUS_NAME'), policyVersion: process.env.POLICY_VERSION ?? null },
      input,
    ),
});
