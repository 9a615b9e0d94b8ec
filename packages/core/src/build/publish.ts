import { UserError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { type Digest, parseReference, type Reference } from '../ref/index.ts';
import { type Manifest, type RegistryClient, RegistryError } from '../registry/index.ts';

/**
 * The record of the input-addressed cache is a tag in the image's own
 * repository: `anew-inputs-<hex of the inputs-digest>`. A tag, not a
 * referrer artifact, because the lookup starts from the inputs, not from an
 * image: a tag is found with one manifest request on every registry (no
 * referrers API needed, as on distribution 2.8), costs no extra blob, and
 * whoever can push the image can push it. The tag moves only to an image
 * built from exactly those inputs, so it can never point at anything else.
 */
export function cacheTag(inputs: Digest): string {
  return `anew-inputs-${inputs.slice(inputs.indexOf(':') + 1)}`;
}

/** The image recorded under these inputs in the repository, if any: one request. */
export async function lookupCache(
  client: RegistryClient,
  repo: Reference,
  inputs: Digest,
): Promise<Manifest | undefined> {
  try {
    return await client.getManifest(repo.repo.withTag(cacheTag(inputs)));
  } catch (e) {
    if (e instanceof RegistryError && e.status === 404) return undefined;
    throw e;
  }
}

/**
 * `tags` input lines: a bare tag, or a full reference in the image's
 * repository (docker/metadata-action's output). Checked before anything is
 * pushed; another repository is refused, since its blobs would have to be
 * copied there first, which is what promote does.
 */
export function parseTags(lines: readonly string[], repo: Reference, what = 'input "tags"'): Reference[] {
  const out = new Map<string, Reference>();
  for (const line of lines) {
    const ref = /[/:@]/.test(line) ? parseReference(line, `${what} line "${line}"`) : repo.repo.withTag(line);
    if (ref.digest)
      throw new UserError(
        `${what} has "${line}", which carries a digest`,
        'A tag names the image; give a tag',
      );
    if (!ref.tag)
      throw new UserError(`${what} has "${line}" without a tag`, `Write ${ref.name}:<tag> or just <tag>`);
    if (ref.name !== repo.name)
      throw new UserError(
        `${what} has "${line}", in ${ref.name} rather than ${repo.name}`,
        "Tags are pushed in the image's repository; use the promote action to carry the image to another one",
      );
    out.set(ref.toString(), ref);
  }
  return [...out.values()];
}

/**
 * Points each tag at the manifest: its bytes are put again under every tag,
 * so nothing but the tag changes.
 */
export async function pushTags(
  client: RegistryClient,
  repo: Reference,
  manifest: Manifest,
  tags: readonly string[],
  log: Logger,
): Promise<void> {
  for (const tag of tags) {
    await client.putManifest(repo.repo, manifest.bytes, manifest.mediaType, tag);
    log.info(`Tagged ${repo.repo.withTag(tag)}`);
  }
}
