/** What a demo section is and what it is given (local/demo.ts runs them in order). */
import type { LocalRuntime } from './runtime.ts';

export interface DemoContext {
  readonly rt: LocalRuntime;
  readonly out: (s?: string) => void;
  readonly bold: (s: string) => string;
}

export interface DemoSection {
  readonly title: string;
  run(ctx: DemoContext): Promise<void>;
}
