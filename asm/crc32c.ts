// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-16 (the slicing-by-N family of
// Intel's "Slicing-by-8" paper: 16 table lookups consume 16 bytes a step), and leveldb's checksum
// mask. Twin of src/engine/js/crc32c.ts (slicing-by-8: same values). WASM has no CRC
// instruction; the 16 tables (16 KiB, static data, not the arena) are built once at instantiation.

const POLY: u32 = 0x82f63b78;
const SLICES: usize = 16;
/** TABLES + k*1024 + 4*b: CRC of byte b followed by k zero bytes. */
const TABLES: usize = memory.data(<i32>(SLICES * 256 * 4), 16);

function buildTables(): void {
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    store<u32>(TABLES + (<usize>i << 2), c);
  }
  for (let i: u32 = 0; i < 256; i++) {
    let c = load<u32>(TABLES + (<usize>i << 2));
    for (let k: usize = 1; k < SLICES; k++) {
      c = load<u32>(TABLES + (<usize>(c & 0xff) << 2)) ^ (c >>> 8);
      store<u32>(TABLES + (k << 10) + (<usize>i << 2), c);
    }
  }
}
buildTables();

@inline
function t(k: usize, b: u32): u32 {
  return load<u32>(TABLES + (k << 10) + (<usize>b << 2));
}

/** CRC32C of memory[ptr .. ptr+len), continuing from `crc` (unmasked, 0 to start). */
export function crc32c(ptr: usize, len: usize, crc: u32): u32 {
  let c = ~crc;
  let p = ptr;
  const end = ptr + len;
  const end16 = ptr + (len & ~(<usize>15));
  while (p < end16) {
    const w0 = c ^ load<u32>(p);
    const w1 = load<u32>(p, 4);
    const w2 = load<u32>(p, 8);
    const w3 = load<u32>(p, 12);
    c = t(15, w0 & 0xff) ^ t(14, (w0 >>> 8) & 0xff) ^ t(13, (w0 >>> 16) & 0xff) ^ t(12, w0 >>> 24) ^
      t(11, w1 & 0xff) ^ t(10, (w1 >>> 8) & 0xff) ^ t(9, (w1 >>> 16) & 0xff) ^ t(8, w1 >>> 24) ^
      t(7, w2 & 0xff) ^ t(6, (w2 >>> 8) & 0xff) ^ t(5, (w2 >>> 16) & 0xff) ^ t(4, w2 >>> 24) ^
      t(3, w3 & 0xff) ^ t(2, (w3 >>> 8) & 0xff) ^ t(1, (w3 >>> 16) & 0xff) ^ t(0, w3 >>> 24);
    p += 16;
  }
  while (p < end) {
    c = t(0, (c ^ load<u8>(p)) & 0xff) ^ (c >>> 8);
    p++;
  }
  return ~c;
}

const MASK_DELTA: u32 = 0xa282ead8;

/** leveldb's mask: stored CRCs are masked so a CRC of data embedding CRCs stays strong. */
@inline
export function maskCrc(crc: u32): u32 {
  return rotr<u32>(crc, 15) + MASK_DELTA;
}
