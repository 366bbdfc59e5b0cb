// bench/process-cpu.ts reads another process's CPU time from /proc/<pid>/stat: it must grow while
// that process computes (and not while it sleeps), and be undefined for a process that is gone.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { processCpuMicros, processesCpuMicros } from '../../bench/process-cpu.js';

describe.skipIf(!existsSync('/proc/self/stat'))('processCpuMicros', () => {
  it("counts a child's busy time, not its sleep, and answers undefined once it exited", async () => {
    // Busy for 150 ms of CPU, then asleep until killed.
    const child = spawn(process.execPath, ['-e', 'const t = process.cpuUsage(); while (process.cpuUsage(t).user < 150_000); console.log("busy done"); setTimeout(() => {}, 10_000);'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
      const busy = processCpuMicros(child.pid!)!;
      expect(busy).toBeGreaterThanOrEqual(140_000);
      await new Promise((r) => setTimeout(r, 200));
      expect(processCpuMicros(child.pid!)! - busy).toBeLessThan(50_000);
      expect(processesCpuMicros([child.pid!, process.pid])).toBeGreaterThan(busy);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    // Reaped: /proc/<pid> is gone.
    expect(processCpuMicros(child.pid!)).toBeUndefined();
    expect(processesCpuMicros([child.pid!, process.pid])).toBeUndefined();
  });
});
