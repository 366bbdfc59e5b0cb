/**
 * How kvctl prints keys and values, which are any bytes: three formats (simple, table, json) and
 * two encodings (--hex, --base64), documented in docs/cli.md ("Output").
 *
 * What must hold: every printed field maps back to exactly one byte string. In simple and table
 * output a field is printed as is when it is valid UTF-8 without control characters, without
 * `=` next to a space, not empty and not starting with `"`; otherwise it is printed double-quoted with C-style
 * escapes (\\ \" \n \r \t \xNN), so a key containing ` = ` or a newline cannot be confused with
 * the separator or the next line. In JSON, strings when both key and value are valid UTF-8, else
 * base64 (named by the `encoding` field).
 */
import { Buffer } from 'node:buffer';
import type { OutputFormat } from './args.js';

export type Encoding = 'hex' | 'base64' | undefined;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as a string when they are valid UTF-8, else undefined. */
export function utf8OrUndefined(b: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(b);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return undefined;
  }
}

/**
 * Needs quoting: control characters (C0, DEL), `=` next to a space (so the first ` = ` of a line
 * is always the separator), a leading quote, or empty.
 */
const NEEDS_QUOTES = /[\u0000-\u001f\u007f]| =|= |^"|^$/;

/** A double-quoted, C-escaped rendering of the bytes (non-UTF-8 bytes as \xNN). */
export function quoteBytes(b: Uint8Array): string {
  let out = '"';
  const text = utf8OrUndefined(b);
  if (text !== undefined) {
    for (const ch of text) out += escapeChar(ch);
  } else {
    for (const byte of b) out += byte >= 0x20 && byte < 0x7f ? escapeChar(String.fromCharCode(byte)) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return `${out}"`;
}

function escapeChar(ch: string): string {
  switch (ch) {
    case '\\':
      return '\\\\';
    case '"':
      return '\\"';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default: {
      const c = ch.codePointAt(0)!;
      return c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
    }
  }
}

/** One field for simple or table output. */
export function showBytes(b: Uint8Array, encoding: Encoding): string {
  if (encoding !== undefined) return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString(encoding);
  const text = utf8OrUndefined(b);
  return text === undefined || NEEDS_QUOTES.test(text) ? quoteBytes(b) : text;
}

/** One key-value pair (value absent with --keys-only) as a JSON object. */
export function jsonPair(key: Uint8Array, value: Uint8Array | undefined, encoding: Encoding): Record<string, string> {
  const fields = value === undefined ? [key] : [key, value];
  let enc: 'utf8' | 'hex' | 'base64' = encoding ?? 'utf8';
  if (enc === 'utf8' && fields.some((f) => utf8OrUndefined(f) === undefined)) enc = 'base64';
  const show = (b: Uint8Array): string => (enc === 'utf8' ? utf8OrUndefined(b)! : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString(enc));
  const out: Record<string, string> = { key: show(key) };
  if (value !== undefined) out.value = show(value);
  out.encoding = enc;
  return out;
}

/** Rows as an aligned table with a header line; columns separated by two spaces. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** Pairs in the chosen format (no trailing newline; empty string for no pairs in simple output). */
export function formatPairs(pairs: ReadonlyArray<readonly [Uint8Array, Uint8Array]>, format: OutputFormat, encoding: Encoding, keysOnly: boolean): string {
  if (format === 'json') return JSON.stringify(pairs.map(([k, v]) => jsonPair(k, keysOnly ? undefined : v, encoding)));
  if (format === 'table') {
    const rows = pairs.map(([k, v]) => (keysOnly ? [showBytes(k, encoding)] : [showBytes(k, encoding), showBytes(v, encoding)]));
    return table(keysOnly ? ['KEY'] : ['KEY', 'VALUE'], rows);
  }
  return pairs.map(([k, v]) => (keysOnly ? showBytes(k, encoding) : `${showBytes(k, encoding)} = ${showBytes(v, encoding)}`)).join('\n');
}
