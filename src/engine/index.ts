/**
 * Picks a hot-path twin by name. 'js' is always available; 'wasm' loads the WebAssembly build
 * (src/engine/wasm over build/lsmraft.wasm), imported only when asked for so a js-only process
 * never reads or compiles the module.
 */
import type { EngineName, HotPaths } from './types.js';
import { InvalidArgumentError } from '../errors.js';
import { jsHotPaths } from './js/index.js';

export type { EngineName, HotPaths } from './types.js';

export async function loadEngine(name: EngineName): Promise<HotPaths> {
  if (name === 'js') return jsHotPaths;
  if (name === 'wasm') {
    const wasm = await import('./wasm/index.js');
    return wasm.loadWasmHotPaths();
  }
  throw new InvalidArgumentError(`unknown engine ${JSON.stringify(name)}: expected 'js' or 'wasm'`);
}
