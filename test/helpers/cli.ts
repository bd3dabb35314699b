import { main } from '../../cli/aidops.ts';

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs `aidops` in-process, capturing what it prints; `env` is all the CLI sees of the environment. */
export async function runCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await main([...argv], {
    out: (s) => {
      out += `${s}\n`;
    },
    err: (s) => {
      err += `${s}\n`;
    },
    env,
  });
  return { code, out, err };
}
