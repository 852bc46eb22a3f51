/**
 * cli/words — which command a command line names. Shared by the dispatcher (cli/dispatch) and the start-up
 * launcher (cli/fast/launcher), so both read a line the same way: the first two words that are not options name a
 * two-word command ("trust verify") when one exists, else the first word names a one-word command ("verify").
 */

/** CommandWords is the command a line names (`name`, '' for none) and the words that named it. */
export interface CommandWords {
  name: string;
  words: string[];
}

/** commandWords reads the command name from argv; isCommand says whether a name is registered. */
export function commandWords(argv: readonly string[], isCommand: (name: string) => boolean): CommandWords {
  const words = argv.filter((a) => !a.startsWith('-')).slice(0, 2);
  const two = words.join(' ');
  if (words.length === 2 && isCommand(two)) return { name: two, words };
  const one = words.slice(0, 1);
  return { name: one[0] ?? '', words: one };
}
