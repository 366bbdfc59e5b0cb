/**
 * Turns etcdctl's output into what two conforming servers print alike: identities (cluster and
 * member IDs, ports, lease IDs, temporary paths), Raft numbers (terms, indexes), sizes, times and
 * whole-file hashes become placeholders; revisions become offsets from the revision the scenario started at
 * (`R+3`), so a server whose fresh cluster starts at another revision still compares. Keys and
 * values that -w json prints in base64 are decoded when they are printable text.
 */

/** What a run has learnt that its outputs are normalized against. */
export interface NormalizeContext {
  /** The revision the scenario started at. */
  baseRevision: number;
  /** Lease IDs in the order they were granted (hex, as etcdctl prints them). */
  leases: string[];
  /** The run's temporary directory. */
  tmpDir: string;
}

/** JSON fields that hold a revision. */
const REVISION_FIELDS = new Set(['revision', 'create_revision', 'mod_revision', 'compact_revision', 'CompactRevision']);
/** JSON fields that hold a member's or cluster's identity. */
const ID_FIELDS = new Set(['cluster_id', 'member_id', 'leader', 'ID']);
/** JSON fields whose numbers depend on the server's Raft log or storage, not on the API. */
const OPAQUE_NUMBER_FIELDS = new Set(['raft_term', 'raftTerm', 'raftIndex', 'raftAppliedIndex', 'dbSize', 'dbSizeInUse']);
/** JSON fields in base64 holding user bytes. */
const BYTES_FIELDS = new Set(['key', 'value', 'keys']);

export function revisionLabel(revision: number, ctx: NormalizeContext): string {
  const d = revision - ctx.baseRevision;
  return d >= 0 ? `R+${d}` : `R${d}`;
}

function leaseLabel(hexOrDecimal: string, radix: 10 | 16, ctx: NormalizeContext): string | undefined {
  const value = BigInt(radix === 16 ? `0x${hexOrDecimal}` : hexOrDecimal);
  const i = ctx.leases.findIndex((l) => BigInt(`0x${l}`) === value);
  return i < 0 ? undefined : `<lease${i + 1}>`;
}

function decodeBytes(b64: string): string {
  const text = Buffer.from(b64, 'base64').toString('utf8');
  return /^[\x20-\x7e]*$/.test(text) ? text : `base64:${b64}`;
}

function normalizeJson(v: unknown, field: string, ctx: NormalizeContext): unknown {
  if (Array.isArray(v)) {
    const items = v.map((x) => normalizeJson(x, field, ctx));
    // Members come in the order of their IDs, which are random: sorted by name instead.
    if (field === 'members') items.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    return items;
  }
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalizeJson(x, k, ctx)]));
  }
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v))) {
    const s = String(v);
    if (REVISION_FIELDS.has(field)) return Number(s) > 0 ? revisionLabel(Number(s), ctx) : Number(s);
    // A lease's ID field (lease grant -w json) is the lease; a member's is an identity.
    if (ID_FIELDS.has(field)) return (field === 'ID' ? leaseLabel(s, 10, ctx) : undefined) ?? '<id>';
    if (OPAQUE_NUMBER_FIELDS.has(field)) return '<n>';
    if (field === 'lease') return Number(s) === 0 ? 0 : (leaseLabel(s, 10, ctx) ?? '<unknown lease>');
  }
  if (typeof v === 'string' && BYTES_FIELDS.has(field)) return decodeBytes(v);
  if (typeof v === 'string' && field === 'version') return '<version>';
  if (typeof v === 'string' && field === 'took') return '<duration>';
  if (typeof v === 'string') return normalizeText(v, ctx);
  return v;
}

/**
 * JSON numbers above 2^53 (cluster and member IDs are uint64) would lose digits in JSON.parse:
 * they are quoted first.
 */
function parseJsonExact(text: string): unknown {
  return JSON.parse(text.replace(/([:[,])\s*(\d{16,})(?=[,\]}])/g, '$1"$2"'));
}

/**
 * `etcdctl snapshot status`'s line: hash, revision, total keys, total size. The hash covers the
 * whole bbolt file, which holds the run's random member and cluster IDs, so it changes from run to
 * run; the size is the file's pages (opaque, as dbSize is). The revision is kept as an offset.
 * etcdctl prints the hash with %x: without leading zeros.
 */
const SNAPSHOT_STATUS = /^([0-9a-f]{1,8}), (\d+), (\d+), ([\d.]+ [kMGT]?B)$/;

/** One line of text output. */
export function normalizeText(line: string, ctx: NormalizeContext): string {
  const snap = SNAPSHOT_STATUS.exec(line);
  if (snap !== null) return `<hash>, ${revisionLabel(Number(snap[2]), ctx)}, ${snap[3]}, <size>`;
  let s = line;
  if (ctx.tmpDir !== '') s = s.split(ctx.tmpDir).join('<tmp>');
  s = s.replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>');
  s = s.replace(/took = [\d.]+[µnm]?s/g, 'took = <duration>');
  s = s.replace(/remaining\(-?\d+s\)/g, 'remaining(<s>)');
  // etcd keeps a lease's keys in a map: their order is arbitrary.
  s = s.replace(/attached keys\(\[([^\]]*)\]\)/g, (_, keys: string) => `attached keys([${keys.split(' ').sort().join(' ')}])`);
  s = s.replace(/compacted revision (\d+)/g, (_, r: string) => `compacted revision ${revisionLabel(Number(r), ctx)}`);
  s = s.replace(/\b([0-9a-f]{16})\b/g, (m: string) => leaseLabel(m, 16, ctx) ?? m);
  return s;
}

/** stdout as normalized lines (JSON documents normalized field by field), blank lines dropped. */
export function normalizeStdout(stdout: string, ctx: NormalizeContext): string[] {
  const out: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    if (/^[[{]/.test(line)) {
      let doc: unknown;
      try {
        doc = parseJsonExact(line);
      } catch (e) {
        if (!(e instanceof SyntaxError)) throw e;
        out.push(normalizeText(line, ctx));
        continue;
      }
      out.push(JSON.stringify(normalizeJson(doc, '', ctx)));
    } else {
      out.push(normalizeText(line, ctx));
    }
  }
  return out;
}

/**
 * stderr as normalized lines, each prefixed with '! ': etcdctl's messages as they are; of its
 * structured client logs only the gRPC status of a failed call (its code is what clients match
 * on), each distinct one once (a retried call logs once per attempt).
 */
export function normalizeStderr(stderr: string, ctx: NormalizeContext): string[] {
  const out: string[] = [];
  for (const line of stderr.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('{"level"')) {
      const status = /rpc error: code = (\w+) desc = ([^"]*)/.exec(line);
      if (status === null) continue;
      const text = `! grpc ${status[1]}: ${normalizeText(status[2]!, ctx)}`;
      if (!out.includes(text)) out.push(text);
      continue;
    }
    out.push(`! ${normalizeText(line, ctx)}`);
  }
  return out;
}
