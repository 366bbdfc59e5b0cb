/**
 * The copies of values a point read hands to its caller, carved out of shared slabs as Node's
 * Buffer.allocUnsafe carves small Buffers out of Buffer.poolSize slabs (node's lib/buffer.js).
 *
 * Why: V8 keeps a typed array of at most 64 bytes inside its heap, but gives a larger one a backing
 * store of its own, allocated outside the heap and tracked by the garbage collector; for a 100-byte
 * value that allocation costs several times the copy itself (bench/point-reads.bench.ts). A view on
 * a slab allocates only the view.
 *
 * What must hold: each copy owns its bytes (no two copies overlap, and a slab is never written
 * again where a copy was handed out), so writing into a returned value changes nothing else. Its
 * `.buffer` is the shared slab, as a pooled Buffer's is: a caller must not transfer or detach it.
 * A slab stays alive while any value carved from it does (at most VALUE_SLAB_BYTES per value kept).
 */

/** Bytes of one slab. */
export const VALUE_SLAB_BYTES = 8192;
/** Values above this many bytes get a buffer of their own (a slab would hold few of them). */
const SLAB_VALUE_BYTES_MAX = VALUE_SLAB_BYTES >>> 3;
/** Values of at most this many bytes already live in V8's heap (V8's typed-array in-heap limit). */
const IN_HEAP_BYTES_MAX = 64;

let slab = new ArrayBuffer(VALUE_SLAB_BYTES);
let slabUsed = 0;

/** A copy of src[start..end) that the caller owns (see the header for what its `.buffer` is). */
export function copyValue(src: Uint8Array, start: number, end: number): Uint8Array {
  const length = end - start;
  if (length <= IN_HEAP_BYTES_MAX || length > SLAB_VALUE_BYTES_MAX) return src.slice(start, end);
  if (slabUsed + length > VALUE_SLAB_BYTES) {
    slab = new ArrayBuffer(VALUE_SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, length);
  // 8-byte aligned, as Node aligns its pool, so a caller may lay a wider typed array over a copy.
  slabUsed = (slabUsed + length + 7) & ~7;
  // set() is a memcpy; its subarray argument is one more view, still cheaper than a byte loop.
  out.set(src.subarray(start, end));
  return out;
}
