// Loads the TypeScript worker through tsx when lsmraft runs from its sources (tests, benchmarks):
// piscina cannot load a .ts worker on Node 20 directly. The published build uses dist/pool/worker.js.
import { register } from 'tsx/esm/api';

register();
const worker = await import('./worker.ts');
export default worker.default;
