/**
 * Progress of a long benchmark run: a cli-progress bar when stdout is a terminal, else (a pipe, a
 * log file, CI) one line per finished phase with the elapsed time, so a log shows where time went.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Starts phase `label`, finishing the one before it. */
  phase(label: string): void;
  /** Finishes the last phase; a second call does nothing. */
  stop(): void;
}

/** A progress reporter over `total` phases. */
export function makeProgress(total: number): Progress {
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  if (process.stdout.isTTY === true) {
    const bar = new cliProgress.SingleBar({ format: '{bar} {value}/{total} phases | {elapsed} | {label}', hideCursor: true }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, { label: 'starting', elapsed: elapsed() });
    let first = true;
    let stopped = false;
    return {
      phase(label) {
        bar.increment(first ? 0 : 1, { label, elapsed: elapsed() });
        first = false;
      },
      stop() {
        if (stopped) return;
        stopped = true;
        bar.update(total, { label: 'done', elapsed: elapsed() });
        bar.stop();
      },
    };
  }
  let current: { label: string; at: number } | undefined;
  const finish = (): void => {
    if (current !== undefined) console.log(`[${elapsed().padStart(7)}] ${current.label} done in ${((Date.now() - current.at) / 1000).toFixed(1)}s`);
  };
  return {
    phase(label) {
      finish();
      current = { label, at: Date.now() };
    },
    stop() {
      finish();
      current = undefined;
    },
  };
}
