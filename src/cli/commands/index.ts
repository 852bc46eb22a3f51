/**
 * cli/commands — the command table. One module per command (or command family); add a line here to register it.
 * Keys are the command words as typed ("trust init"); two-word keys take precedence over one-word keys.
 */
import type { Command } from '../context.ts';

export const COMMANDS: Record<string, Command> = {
  // core (issue: keys, manifests, trust)
  // tlog (issue: transparency log)
  // pkg (issue: PSPF packages)
};
