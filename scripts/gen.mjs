// Writes the files made from declarations in code: every action.yml and
// schema/anew.schema.json (see actions/generate.ts). `--check` fails on any
// difference instead, naming the files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-gen-'));
const out = path.join(tmp, 'generate.mjs');
await esbuild.build({
  entryPoints: [path.join(root, 'actions/generate.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  outfile: out,
  absWorkingDir: root,
  logLevel: 'warning',
  banner: { js: 'import{createRequire as __cr}from"node:module";const require=__cr(import.meta.url);' },
});
const { generatedFiles } = await import(pathToFileURL(out).href);
fs.rmSync(tmp, { recursive: true, force: true });
const check = process.argv.includes('--check');
const stale = [];
for (const [file, text] of Object.entries(generatedFiles())) {
  const at = path.join(root, file);
  const now = fs.existsSync(at) ? fs.readFileSync(at, 'utf8') : undefined;
  if (now === text) continue;
  stale.push(file);
  if (!check) fs.writeFileSync(at, text);
}
if (check && stale.length > 0) {
  console.error(`Out of date (run npm run gen): ${stale.join(', ')}`);
  process.exit(1);
}
console.log(check ? 'Generated files are up to date.' : `Wrote ${stale.length} file(s).`);
