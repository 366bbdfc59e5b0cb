// lsmraft WebAssembly hot paths. Exports are documented in asm/README.md.
export { crc32c } from './crc32c';
