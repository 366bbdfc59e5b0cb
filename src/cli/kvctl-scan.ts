/**
 * kvctl scan over KvClient.scan (inclusive bounds, at most `limit` pairs per request): pages
 * forward from `from`, each page starting just after the last key of the one before (the key plus
 * a 0x00 byte is its immediate successor in byte order).
 *
 * --prefix P scans from P and stops at the first key that does not start with P. --reverse
 * returns the last `limit` pairs of the range in descending order: the server scans forward only,
 * so this reads the whole range page by page and keeps the last `limit` pairs (memory bounded by
 * the limit, time by the range). In every case one pair more than the limit is looked for, so
 * `more` says truthfully whether the limit cut the answer.
 */
import type { KvClient } from '../node/kv-client.js';

type Pair = [Uint8Array, Uint8Array];

export interface ScanRequest {
  from: Uint8Array | undefined;
  to: Uint8Array | undefined;
  prefix: Uint8Array | undefined;
  limit: number;
  reverse: boolean;
}

export interface ScanAnswer {
  pairs: Pair[];
  /** More pairs match than the limit let through. */
  more: boolean;
}

/** Pairs asked per request: the limit (plus the one that tells whether there is more), bounded. */
const PAGE_PAIRS_MAX = 1000;

function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

function successor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

/** Pages forward through the range; `take` returns false to stop. */
async function pageForward(client: KvClient, req: ScanRequest, take: (p: Pair) => boolean): Promise<void> {
  let from = req.prefix ?? req.from;
  const pageSize = Math.min(PAGE_PAIRS_MAX, req.reverse ? PAGE_PAIRS_MAX : req.limit + 1);
  // Each pass reads one page and moves past it; the range is finite and every call has a deadline.
  for (;;) {
    const page = await client.scan(from, req.to, pageSize);
    for (const p of page) {
      if (req.prefix !== undefined && !startsWith(p[0], req.prefix)) return;
      if (!take(p)) return;
    }
    if (page.length < pageSize) return;
    from = successor(page[page.length - 1]![0]);
  }
}

export async function scanRange(client: KvClient, req: ScanRequest): Promise<ScanAnswer> {
  const kept: Pair[] = [];
  let seen = 0;
  await pageForward(client, req, (p) => {
    seen++;
    kept.push(p);
    if (req.reverse) {
      // Trimmed in batches (amortized O(1) per pair); at most 2 * limit pairs are held.
      if (kept.length >= 2 * req.limit) kept.splice(0, kept.length - req.limit);
      return true;
    }
    return kept.length <= req.limit;
  });
  if (req.reverse) return { pairs: kept.slice(-req.limit).reverse(), more: seen > req.limit };
  const more = kept.length > req.limit;
  return { pairs: more ? kept.slice(0, req.limit) : kept, more };
}
