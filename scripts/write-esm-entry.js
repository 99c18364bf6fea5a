// Writes dist/index.mjs, the ES module entry: it re-exports the CommonJS
// build, so `import` and `require` share one copy of the module (one Heap
// class, one RefheapError) instead of two.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const names = Object.keys(require(path.join(dist, 'index.js'))).filter((n) => n !== '__esModule');
const source =
  `import cjs from './index.js';\n` +
  names.map((n) => `export const ${n} = cjs.${n};\n`).join('') +
  `export default cjs;\n`;
fs.writeFileSync(path.join(dist, 'index.mjs'), source);
