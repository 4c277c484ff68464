/*
 * Size of the official client as a browser downloads it: dist/lib/client/client.js (what GET /v1/client.js
 * serves) as built by tsc, minified by esbuild (a devDependency used only here, to measure), and each of them
 * gzip- and brotli-compressed at the highest level. No server and no store are involved, so the usual
 * "default store and :memory:" pair does not apply. Writes bench/results/client-size-<YYYY-MM-DD>.json.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/client-size.js
 */
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { transform } from 'esbuild';

const built = await readFile(new URL('../lib/client/client.js', import.meta.url));
const minified = Buffer.from((await transform(built.toString('utf8'), { minify: true, format: 'esm', target: 'es2020' })).code);
const sizes = (b: Buffer) => ({
  bytes: b.length,
  gzip: gzipSync(b, { level: 9 }).length,
  brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
});
const result = { measured: 'official client dist/lib/client/client.js', date: new Date().toISOString(), built: sizes(built), minified: sizes(minified), minifier: 'esbuild --minify --format=esm --target=es2020' };
const dir = new URL('../../bench/results/', import.meta.url);
await mkdir(dir, { recursive: true });
const file = new URL(`client-size-${result.date.slice(0, 10)}.json`, dir);
await writeFile(file, JSON.stringify(result, null, 2) + '\n');
console.table({ 'as built (tsc)': result.built, 'minified (esbuild)': result.minified });
console.log(`saved ${file.pathname}`);
