import { UserError } from '../errors/index.ts';
import { type Digest, isDigest } from '../ref/index.ts';

/**
 * Pure pieces of the Dockerfile path: the base images a Dockerfile names (for
 * the inputs-digest), and the argv of `docker build` and `buildx build`, so
 * tests check them in tables.
 */

export interface DockerfileBuild {
  /** Absolute path of the context. */
  context: string;
  /** Absolute path of the Dockerfile. */
  dockerfile: string;
  buildArgs: Record<string, string>;
  target?: string;
  /** os/arch[/variant] strings. */
  platforms?: string[];
  labels: Record<string, string>;
  /** Seconds; buildx stamps every timestamp with it. */
  sourceDateEpoch: number;
}

/** The external images a Dockerfile builds FROM or copies from, or why they cannot be known before building. */
export type DockerfileBases = { bases: string[] } | { unknown: string };

/** An external image named in a Dockerfile: as written (a variable stays a variable) and as the builder expands it. */
interface ImageMention {
  written: string;
  expanded: string;
  /** Index of the physical line the instruction starts on. */
  line: number;
}

/**
 * Reads the FROM lines and `COPY --from=` images: stage names, stage
 * numbers and `scratch` are not images; `$VAR` and `${VAR}` take the build
 * arguments, then the ARG defaults declared before the first FROM, as the
 * builder does. An image that still holds a variable after that cannot be
 * pinned before the build.
 */
function scanImages(text: string, buildArgs: Record<string, string>): ImageMention[] | { unknown: string } {
  const physical = text.split(/\r?\n/);
  const logical: { text: string; line: number }[] = [];
  for (let i = 0; i < physical.length; i++) {
    const first = i;
    let joined = physical[i]!;
    while (/\\\s*$/.test(joined) && i + 1 < physical.length)
      joined = `${joined.replace(/\\\s*$/, ' ')}${physical[++i]}`;
    const t = joined.trim();
    if (t !== '' && !t.startsWith('#')) logical.push({ text: t, line: first });
  }
  const globals: Record<string, string> = {};
  const stages = new Set<string>();
  const found: ImageMention[] = [];
  let seenFrom = false;
  const expand = (word: string) =>
    word.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => {
      const name = a ?? b;
      return buildArgs[name] ?? globals[name] ?? `\${${name}}`;
    });
  const external = (expanded: string) =>
    expanded.toLowerCase() !== 'scratch' && !stages.has(expanded.toLowerCase()) && !/^\d+$/.test(expanded);
  for (const { text: line, line: index } of logical) {
    const [instruction = '', ...rest] = line.split(/\s+/);
    const word = instruction.toUpperCase();
    if (word === 'ARG' && !seenFrom) {
      for (const decl of rest) {
        const eq = decl.indexOf('=');
        const name = eq < 0 ? decl : decl.slice(0, eq);
        if (eq >= 0) globals[name] = unquote(decl.slice(eq + 1));
      }
    } else if (word === 'FROM') {
      seenFrom = true;
      const args = rest.filter((a) => !a.startsWith('--'));
      const image = args[0];
      if (!image) return { unknown: `"${line}" names no image` };
      const expanded = expand(image);
      if (expanded.includes('$')) return { unknown: `"${line}" uses a variable without a value` };
      // Only earlier stages can be built on, so the name is known from here on.
      if (external(expanded)) found.push({ written: image, expanded, line: index });
      if (args[1]?.toUpperCase() === 'AS' && args[2]) stages.add(args[2].toLowerCase());
    } else if (word === 'COPY' || word === 'ADD') {
      for (const flag of rest.filter((a) => /^--from=/i.test(a))) {
        const written = flag.slice('--from='.length);
        const expanded = expand(written);
        if (expanded.includes('$')) return { unknown: `"${line}" uses a variable without a value` };
        if (external(expanded)) found.push({ written, expanded, line: index });
      }
    }
  }
  return found;
}

export function dockerfileBases(text: string, buildArgs: Record<string, string>): DockerfileBases {
  const found = scanImages(text, buildArgs);
  if (!Array.isArray(found)) return found;
  return { bases: [...new Set(found.map((m) => m.expanded))] };
}

/**
 * The Dockerfile with every external image replaced by the digest it was
 * resolved to for the inputs-digest (`pin` answers for an expanded name), so
 * the builder builds on exactly the bytes the digest describes even if a tag
 * moves meanwhile. Only the image words change; every other byte stays, so
 * heredocs and comments are untouched.
 */
export function pinDockerfile(
  text: string,
  buildArgs: Record<string, string>,
  pin: (expanded: string) => string | undefined,
): string {
  const found = scanImages(text, buildArgs);
  if (!Array.isArray(found)) return text;
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split(/\r?\n/);
  for (const m of found) {
    const pinned = pin(m.expanded);
    if (!pinned) continue;
    // The word is on the instruction's first line or a continuation of it.
    for (let i = m.line; i < lines.length; i++) {
      const at = findWord(lines[i]!, m.written);
      if (at >= 0) {
        lines[i] = `${lines[i]!.slice(0, at)}${pinned}${lines[i]!.slice(at + m.written.length)}`;
        break;
      }
    }
  }
  return lines.join(eol);
}

/** Where `word` stands alone in `line` (after a space or `=`, before a space or the end). */
function findWord(line: string, word: string): number {
  for (let at = line.indexOf(word); at >= 0; at = line.indexOf(word, at + 1)) {
    const before = at === 0 ? ' ' : line[at - 1]!;
    const after = line[at + word.length] ?? ' ';
    if (/[\s=]/.test(before) && /\s/.test(after)) return at;
  }
  return -1;
}

function unquote(s: string): string {
  return /^(["']).*\1$/.test(s) ? s.slice(1, -1) : s;
}

function commonArgs(b: DockerfileBuild): string[] {
  const args = ['--file', b.dockerfile];
  for (const [k, v] of Object.entries(b.buildArgs)) args.push('--build-arg', `${k}=${v}`);
  if (b.target) args.push('--target', b.target);
  for (const [k, v] of Object.entries(b.labels)) args.push('--label', `${k}=${v}`);
  return args;
}

/**
 * `docker build` through the engine, tagged with the one tag that will be
 * pushed. `--pull` when the Dockerfile has bases: the engine then builds on
 * the registry's current images, the ones the inputs-digest pinned, and not
 * on older local copies of the same tags.
 */
export function dockerBuildArgv(b: DockerfileBuild, tag: string, pull: boolean): string[] {
  if (b.platforms && b.platforms.length > 1)
    throw new UserError(
      `the Docker engine builds one platform at a time; "platforms" asks for ${b.platforms.join(', ')}`,
      'Install docker buildx for multi-platform Dockerfile builds, or use the daemonless builder ("files")',
    );
  const args = ['build', ...commonArgs(b), '--tag', tag];
  if (b.platforms?.[0]) args.push('--platform', b.platforms[0]);
  if (pull) args.push('--pull');
  args.push(b.context);
  return args;
}

/**
 * `buildx build` pushing by digest: no tag is pushed by buildx (anew pushes
 * the tags afterwards, under the digest the metadata file reports), the
 * timestamps are rewritten to SOURCE_DATE_EPOCH (given in the environment)
 * so the layers are reproducible, and buildx's own provenance is off: the
 * attest action signs provenance for the digest instead, and buildx's
 * attestation manifests would change the digest on every run.
 */
/**
 * The `buildx build` argv. On a BuildKit builder (the docker-container driver
 * that docker/setup-buildx-action creates, or a remote one) the image is
 * pushed by digest alone with OCI media types and timestamps rewritten to
 * SOURCE_DATE_EPOCH, so the same inputs give the same bytes. The `docker`
 * driver (buildx on a runner without setup-buildx-action) builds in the
 * engine, which pushes through its own client: it needs a tag to push, and
 * its classic image store supports neither OCI media types nor rewritten
 * timestamps, so there the image goes to `recordTag` and is not byte for
 * byte reproducible (as with the engine's own builder).
 */
export function buildxBuildArgv(
  b: DockerfileBuild,
  repository: string,
  metadataFile: string,
  builder: { driver: string; recordTag: string } = { driver: 'docker-container', recordTag: '' },
): string[] {
  const args = ['build', ...commonArgs(b)];
  if (b.platforms && b.platforms.length > 0) args.push('--platform', b.platforms.join(','));
  const output =
    builder.driver === 'docker'
      ? `type=image,name=${repository}:${builder.recordTag},push=true`
      : `type=image,name=${repository},push-by-digest=true,name-canonical=true,push=true,oci-mediatypes=true,rewrite-timestamp=true`;
  args.push(
    '--provenance=false',
    '--sbom=false',
    '--metadata-file',
    metadataFile,
    '--output',
    output,
    b.context,
  );
  return args;
}

export function buildxEnvironment(b: DockerfileBuild): Record<string, string> {
  return { SOURCE_DATE_EPOCH: String(b.sourceDateEpoch) };
}

/** The pushed digest from buildx's metadata file (`containerimage.digest`). */
export function digestFromBuildxMetadata(text: string): Digest {
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch {
    throw new Error(`buildx wrote a metadata file that is not JSON: ${text.slice(0, 200)}`);
  }
  const digest = (meta as Record<string, unknown> | null)?.['containerimage.digest'];
  if (typeof digest !== 'string' || !isDigest(digest))
    throw new Error(
      `buildx's metadata file has no image digest (containerimage.digest): ${text.slice(0, 200)}`,
    );
  return digest;
}
