// Builds a JavaScript plugin into a WASM component with componentize-js:
//
//   node build.mjs SOURCE.js WIT_DIR OUT.wasm
//
// SOURCE.js exports `plugin` (the `sluice:indexer/plugin` interface) and may import other
// modules by relative path. WASI features the plugin does not need are left out, so the
// component imports only the contract and stdio (where an uncaught exception is reported).

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { componentize } from '@bytecodealliance/componentize-js';

const [source, wit, out] = process.argv.slice(2);
if (out === undefined) {
  console.error('usage: node build.mjs SOURCE.js WIT_DIR OUT.wasm');
  process.exit(2);
}
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath: resolve(wit),
  worldName: 'indexer-plugin',
  disableFeatures: ['random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
console.error(`wrote ${out} (${component.length} bytes)`);
