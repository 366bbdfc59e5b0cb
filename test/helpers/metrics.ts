/**
 * Reading a node's HTTP status endpoint in tests: GET a path, scrape /metrics, and pick one
 * sample's value out of the Prometheus text format.
 */
export async function httpGet(address: string, path: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${address}${path}`, { ...init, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

export async function scrape(address: string): Promise<string> {
  const { status, body } = await httpGet(address, '/metrics');
  if (status !== 200) throw new Error(`GET /metrics: ${status}`);
  return body;
}

/**
 * The value of sample `name` whose labels include `labels` (all of them), or undefined if there is
 * none. With several matching samples, their sum.
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    if (!Object.entries(labels).every(([k, v]) => have.get(k) === v)) continue;
    sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}
