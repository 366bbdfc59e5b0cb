/**
 * The CPU time other processes used, read from Linux's /proc/<pid>/stat (proc(5): fields 14 utime
 * and 15 stime, in clock ticks, all threads of the process counted: libuv's pool, Go's threads).
 * A benchmark reads it for the server processes it drives, before and after a workload: CPU per
 * operation depends far less on what else the machine runs than operations per second do.
 */
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ, the unit of utime and stime: 100 on every architecture Node supports (getconf CLK_TCK). */
const TICKS_PER_SECOND = 100;

/** utime + stime of process `pid` in microseconds, or undefined where /proc/<pid>/stat cannot be read (not Linux, exited). */
export function processCpuMicros(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // Field 2, the command name, is in parentheses and may hold spaces: split after its last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime (14) and stime (15) are fields[11] and fields[12].
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1e6) / TICKS_PER_SECOND : undefined;
}

/** The summed CPU of `pids` in microseconds; undefined if any cannot be read. */
export function processesCpuMicros(pids: readonly number[]): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    const us = processCpuMicros(pid);
    if (us === undefined) return undefined;
    sum += us;
  }
  return sum;
}
