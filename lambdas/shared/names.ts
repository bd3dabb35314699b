/**
 * Every physical name of an environment (`aidops:environment`), in one place:
 * the constructs name resources with it, the CLI and the local runtime find
 * them with it, so two environments live side by side in one account.
 * Handlers get names through their environment variables, never from here.
 */

export const DEFAULT_ENVIRONMENT = 'dev';

export function names(environment: string = DEFAULT_ENVIRONMENT) {
  const p = `aidops-${environment}`;
  const ssm = `/aidops/${environment}`;
  return {
    environment,
    /** Prefix of every name below that is not an SSM path. */
    prefix: p,
    sessionMachine: `${p}-session`,
    tombstoneMachine: `${p}-tombstone`,
    restoreMachine: `${p}-restore`,
    snapshotMachine: `${p}-snapshot`,
    pluginAdmissionMachine: `${p}-plugin-admission`,
    scopeGrantMachine: `${p}-scope-grant`,
    sessionTable: `${p}-sessions`,
    pluginRegistryTable: `${p}-plugin-registry`,
    auditHeadTable: `${p}-audit-heads`,
    auditBus: `${p}-audit`,
    dashboard: p,
    dataKeyAlias: `alias/${p}-data`,
    digestKeyAlias: `alias/${p}-audit-digest`,
    dnsAllowList: `${p}-allow`,
    dnsAllList: `${p}-all`,
    dnsRuleGroup: `${p}-sessions`,
    launchTemplate: (profile: string) => `${p}-${profile}`,
    /** Vended log group of a state machine (CloudWatch Logs resource policy size limits want this prefix). */
    workflowLogGroup: (machine: string) => `/aws/vendedlogs/states/${machine}`,
    /** SSM parameters the stack writes; the CLI reads what is known only after deploy from here. */
    ssmPrefix: ssm,
    flagPrefix: `${ssm}/flags`,
    policyParameter: `${ssm}/policy/active`,
    incidentTableParameter: `${ssm}/remediation/incident-table`,
    dryRunParameter: `${ssm}/remediation/automatic-dry-run`,
    peopleDoorUrlParameter: `${ssm}/people-door-url`,
    sessionSecretPrefix: `aidops/${environment}/session/`,
    /** IAM resource pattern of the session roles a revocation may touch when no role ARNs are given. */
    sessionRolePattern: `*${p}-session*`,
  } as const;
}

export type Names = ReturnType<typeof names>;
