/**
 * Step "Publish decision": a decision event (as a step returned it, or a refusal the
 * workflow decided) → the audit bus. Env: AUDIT_BUS_NAME, POLICY_VERSION (optional).
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { awsClientConfig } from '../../shared/clients.ts';
import { optionalEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { PublishDecisionInput, publishDecision } from '../workflow.ts';

const eventBridge = new EventBridgeClient(awsClientConfig());

export const handler = makeHandler({
  inputName: 'publish-decision input',
  input: PublishDecisionInput,
  core: async (input) =>
    publishDecision(
      { eventBridge, busName: requireEnv('AUDIT_BUS_NAME'), policyVersion: optionalEnv('POLICY_VERSION') ?? null },
      input,
    ),
});
