// The node logger's destinations and options: JSON lines on a non-terminal, one pretty line on a
// terminal, the level filter, the older log(line) callback, and bad options refused at the edge.
import { describe, expect, it } from 'vitest';
import { createLogger, nodeLogger, streamDestination } from '../../src/node/node-logger.js';

function stream(isTTY: boolean): { out: string[]; write: (s: string) => void; isTTY: boolean } {
  const out: string[] = [];
  return { out, write: (s) => void out.push(s), isTTY };
}

describe('node logger', () => {
  it('writes JSON lines when the stream is not a terminal, pretty single lines when it is', () => {
    const plain = stream(false);
    createLogger('info', streamDestination(plain)).child({ node: 3 }).info({ term: 2 }, 'hello');
    expect(plain.out).toHaveLength(1);
    expect(JSON.parse(plain.out[0]!)).toMatchObject({ level: 30, msg: 'hello', node: 3, term: 2, time: expect.any(String) });

    const tty = stream(true);
    createLogger('info', streamDestination(tty)).child({ node: 3 }).warn({ term: 2 }, 'hello');
    expect(tty.out).toHaveLength(1);
    expect(tty.out[0]).toMatch(/WARN.*hello/);
    expect(tty.out[0]!.trimEnd().split('\n')).toHaveLength(1);
    expect(() => JSON.parse(tty.out[0]!)).toThrow();
  });

  it('filters by level; the log(line) callback gets messages and fields; bad options are typed errors', () => {
    const s = stream(false);
    const logger = createLogger('warn', streamDestination(s));
    const node = nodeLogger({ logger }, 5);
    node.info('dropped');
    node.warn('kept');
    expect(s.out.map((l) => JSON.parse(l) as Record<string, unknown>).map((r) => [r['msg'], r['node']])).toEqual([['kept', 5]]);

    const lines: string[] = [];
    nodeLogger({ log: (l) => lines.push(l) }, 1).info({ leader: 2 }, 'leader is 2');
    expect(lines).toEqual(['leader is 2 {"leader":2}']);

    expect(() => nodeLogger({ logLevel: 'loud' as never }, 1)).toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
    expect(() => nodeLogger({ logger: {} as never }, 1)).toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
  });
});
