// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven slicing-by-1.
// WASM has no CRC instruction; the table is built once at instantiation.

const TABLE = new StaticArray<u32>(256);
for (let i: u32 = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  unchecked((TABLE[i] = c));
}

/** CRC32C of memory[ptr .. ptr+len), continuing from `crc` (unmasked, 0 to start). */
export function crc32c(ptr: usize, len: usize, crc: u32): u32 {
  let c = ~crc;
  const end = ptr + len;
  for (let p = ptr; p < end; p++) {
    c = unchecked(TABLE[(c ^ load<u8>(p)) & 0xff]) ^ (c >>> 8);
  }
  return ~c;
}
