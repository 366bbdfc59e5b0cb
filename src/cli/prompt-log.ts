/**
 * Log lines beside an interactive prompt. When stderr and stdout are the same terminal, a log line
 * written while the prompt (and maybe half a typed command) is on screen would land in the middle
 * of it. This destination clears the prompt's line, writes the log line, and has readline redraw
 * the prompt with what was typed so far (readline's prompt(true) keeps the cursor), as a shell
 * does for a background job's message. While a command runs no prompt is shown, so lines are
 * written as they are.
 */
import * as readline from 'node:readline';
import type { DestinationStream } from 'pino';
import { streamDestination, type LineStream } from '../node/node-logger.js';

export class PromptSafeLog implements DestinationStream {
  private rl: readline.Interface | undefined;
  private promptShown = false;
  private readonly inner: DestinationStream;

  constructor(
    logStream: LineStream,
    private readonly screen: NodeJS.WritableStream,
  ) {
    this.inner = streamDestination(logStream);
  }

  /** The prompt to redraw; call showPrompt() instead of rl.prompt() from now on. */
  attach(rl: readline.Interface): void {
    this.rl = rl;
  }

  showPrompt(): void {
    this.promptShown = true;
    this.rl?.prompt();
  }

  /** A line was entered: no prompt is on screen until the next showPrompt(). */
  promptTaken(): void {
    this.promptShown = false;
  }

  write(s: string): void {
    if (this.rl === undefined || !this.promptShown) {
      this.inner.write(s);
      return;
    }
    readline.clearLine(this.screen, 0);
    readline.cursorTo(this.screen, 0);
    this.inner.write(s);
    this.rl.prompt(true);
  }
}
