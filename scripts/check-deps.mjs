// The lint step's dependency check: every package (the root and each
// workspace) declares the packages its code imports and no package it does
// not import, and the layers keep their boundaries: the core knows nothing of
// GitHub Actions or of its front-ends, the adapter knows nothing of the CLI.
// Prints what is wrong and exits 1; silent and 0 when all is well.
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const readJson = (file) => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8'));

/** Packages run as commands rather than imported (the linter, the compiler, Node's own types). */
const TOOLS = new Set(['@biomejs/biome', 'typescript', '@types/node']);

/**
 * Each package: the folders of its shipped code (`src`, checked against
 * `dependencies`), of its tests and scripts (`dev`, which may also use
 * devDependencies and, run by the root's vitest, the root's devDependencies),
 * and the imports its shipped code must never make.
 */
const packages = [
  {
    dir: 'packages/core',
    src: ['src'],
    dev: ['test'],
    forbidden: [/^@actions\/(core|github|attest)$/, /^@anew\/(action|cli)$/],
    why: 'the core knows nothing of GitHub Actions nor of its front-ends',
  },
  {
    dir: 'packages/action',
    src: ['src'],
    dev: ['test'],
    forbidden: [/^@anew\/cli$/],
    why: 'the actions adapter knows nothing of the CLI',
  },
  {
    dir: 'packages/cli',
    src: ['src'],
    dev: ['test'],
    forbidden: [/^@actions\/(core|github)$/],
    why: 'the CLI does not run inside the runner',
  },
  // The root package ships self-contained bundles built from actions/ and the CLI: what they import is
  // bundled at build time, so it is a devDependency, and installing the package installs nothing else.
  {
    dir: '.',
    src: ['actions'],
    dev: ['test', 'bench', 'scripts', 'vitest.config.ts'],
    forbidden: [/^@anew\/cli$/],
    why: 'the actions know nothing of the CLI',
    bundled: true,
  },
];

const builtins = new Set(builtinModules);
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"\n]+)['"]/g;

function* files(p) {
  const abs = path.join(root, p);
  if (!fs.existsSync(abs)) return;
  if (fs.statSync(abs).isFile()) {
    yield p;
    return;
  }
  for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'fixtures-out') continue;
    const rel = path.join(p, e.name);
    if (e.isDirectory()) yield* files(rel);
    else if (/\.(ts|mts|cts|mjs|cjs|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) yield rel;
  }
}

/** The package an import names: `@scope/name` or `name`; undefined for relative paths and Node's own modules. */
function packageOf(spec) {
  if (!/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(\/|$)/.test(spec)) return undefined; // relative, absolute, node:…
  const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
  return builtins.has(name) ? undefined : name;
}

function importsOf(dirs) {
  const found = new Map(); // package -> first file that imports it
  for (const d of dirs)
    for (const f of files(d)) {
      const text = fs.readFileSync(path.join(root, f), 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const pkg = packageOf(m[1]);
        if (pkg && !found.has(pkg)) found.set(pkg, f);
      }
    }
  return found;
}

const problems = [];
const rootJson = readJson('package.json');
const rootDev = new Set(Object.keys(rootJson.devDependencies ?? {}));
for (const p of packages) {
  const json = readJson(path.join(p.dir, 'package.json'));
  const deps = new Set(Object.keys(json.dependencies ?? {}));
  const dev = new Set(Object.keys(json.devDependencies ?? {}));
  const shipped = p.bundled ? dev : deps;
  const where = p.dir === '.' ? 'package.json' : `${p.dir}/package.json`;
  if (p.bundled && deps.size > 0)
    problems.push(
      `${where} has "dependencies": its bundles are self-contained, so list them in "devDependencies"`,
    );
  const src = importsOf(p.src.map((d) => path.join(p.dir, d)));
  const devImports = importsOf(p.dev.map((d) => path.join(p.dir, d)));
  for (const [pkg, file] of src) {
    if (pkg === json.name) continue;
    if (!shipped.has(pkg))
      problems.push(
        `${file} imports ${pkg}, which ${where} does not list in "${p.bundled ? 'devDependencies' : 'dependencies'}"`,
      );
    for (const f of p.forbidden) if (f.test(pkg)) problems.push(`${file} imports ${pkg}: ${p.why}`);
  }
  for (const [pkg, file] of devImports) {
    if (pkg === json.name || deps.has(pkg) || dev.has(pkg) || rootDev.has(pkg)) continue;
    problems.push(`${file} imports ${pkg}, which ${where} does not list`);
  }
  for (const pkg of deps)
    if (!src.has(pkg))
      problems.push(`${where} lists ${pkg} in "dependencies", but its shipped code never imports it`);
  for (const pkg of dev) {
    if (TOOLS.has(pkg) || src.has(pkg) || devImports.has(pkg)) continue;
    // The root's dev tools serve every workspace's tests too.
    if (
      p.dir === '.' &&
      packages.some((q) => q.dir !== '.' && importsOf(q.dev.map((d) => path.join(q.dir, d))).has(pkg))
    )
      continue;
    problems.push(`${where} lists ${pkg} in "devDependencies", but nothing imports it`);
  }
}

if (problems.length > 0) {
  process.stderr.write(
    `Dependencies out of step with the imports:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`,
  );
  process.exit(1);
}
