// Writes FILE.br (brotli, quality 11) and FILE.gz (gzip -9) beside every
// compressible file under the directory given, for the server to send as they
// are (tower-http's ServeDir picks the one the browser accepts). Node's zlib
// has both, so nothing else needs installing.
import { readdirSync, readFileSync, writeFileSync, statSync } from "node:fs";
import { join, extname } from "node:path";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

const compressible = new Set([".wasm", ".js", ".css", ".svg", ".html", ".json"]);

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      walk(path);
    } else if (compressible.has(extname(name))) {
      const data = readFileSync(path);
      const br = brotliCompressSync(data, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: 11,
          [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
        },
      });
      writeFileSync(`${path}.br`, br);
      writeFileSync(`${path}.gz`, gzipSync(data, { level: 9 }));
    }
  }
}

const root = process.argv[2];
if (!root) {
  console.error("usage: node precompress.mjs DIR");
  process.exit(2);
}
walk(root);
