/**
 * A client-side watcher over `etcdctl watch -w json` that survives the server cancelling it: etcdctl
 * resumes a broken watch stream itself (from the revision after the last it saw), but a watch the
 * server cancels (etcdctl asks for a leader, so a member without one cancels with "etcdserver: no
 * leader") ends the process. Then this starts a new one from the revision after the last event
 * seen, as etcd's clientv3 documentation advises a watcher to do; so no event is missed or repeated.
 */
import { BackgroundEtcdctl } from './etcdctl.js';

/** Watch processes started after the first, at most. */
const restartsMax = 50;

export interface WatchedEvent {
  key: string;
  revision: number;
}

interface KvJson {
  key: string;
  mod_revision: number | string;
}

/** The events one `etcdctl watch -w json` printed, in order. */
function eventsOf(watch: BackgroundEtcdctl): WatchedEvent[] {
  const out: WatchedEvent[] = [];
  for (const line of watch.lines()) {
    const response = JSON.parse(line) as { Events?: Array<{ kv: KvJson }> };
    for (const e of response.Events ?? []) out.push({ key: Buffer.from(e.kv.key, 'base64').toString('utf8'), revision: Number(e.kv.mod_revision) });
  }
  return out;
}

export class ResumingWatch {
  private readonly ended: BackgroundEtcdctl[] = [];
  private current: BackgroundEtcdctl;
  restarts = 0;

  /** `args(fromRevision)`: the etcdctl arguments of a watch from that revision. */
  constructor(private readonly args: (fromRevision: number) => string[], private nextRevision: number) {
    this.current = new BackgroundEtcdctl([], args(nextRevision));
  }

  /** Every event seen so far, across restarts. */
  events(): WatchedEvent[] {
    return [...this.ended, this.current].flatMap(eventsOf);
  }

  /** Starts a new watch process if the current one ended (call it between checks). */
  resume(): void {
    if (this.current.exitCode === undefined) return;
    if (++this.restarts > restartsMax) throw new Error(`the watch ended ${restartsMax} times\n${this.stderr()}`);
    this.ended.push(this.current);
    const seen = this.events();
    if (seen.length > 0) this.nextRevision = seen[seen.length - 1]!.revision + 1;
    this.current = new BackgroundEtcdctl([], this.args(this.nextRevision));
  }

  /** What the watch processes wrote on stderr (why they ended). */
  stderr(): string {
    return [...this.ended, this.current].map((w) => w.stderr).join('\n');
  }

  async stop(): Promise<void> {
    await this.current.stop();
  }
}
