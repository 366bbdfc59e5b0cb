/** The deterministic content of crash-test batch N: its keys and values, re-derivable by the checker. */
export function batchKeys(id: number): Array<[string, string]> {
  const count = 1 + (id % 5);
  const out: Array<[string, string]> = [];
  for (let j = 0; j < count; j++) {
    // Keys spread over the key space so batches land in many tables; values vary in size.
    const key = `key-${String((id * 7919 + j * 104729) % 1_000_003).padStart(7, '0')}-${id}-${j}`;
    const size = 20 + ((id * 31 + j * 17) % 600);
    out.push([key, `v${id}.${j}:`.padEnd(size, String.fromCharCode(97 + ((id + j) % 26)))]);
  }
  return out;
}
