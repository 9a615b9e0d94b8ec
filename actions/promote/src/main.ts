import path from 'node:path';
import v8 from 'node:v8';
import type { ActionDefinition, InputReader } from '@anew/action';
import { readVerifyPolicy } from '@anew/action/policy';
import { UserError } from '@anew/core/errors';
import { type BlobCounts, promoteImage } from '@anew/core/promote';
import type { VerifyPolicy } from '@anew/core/provenance/policy';
import { type Digest, parseReference, type Reference, shortDigest } from '@anew/core/ref';
import { type Credential, type CredentialMap, RegistryClient } from '@anew/core/registry';
import { spec } from './spec.ts';

interface Inputs {
  image: Reference & { digest: Digest };
  to: Reference;
  tags: string[];
  policy: VerifyPolicy;
  credentials: CredentialMap;
}

function parse(r: InputReader): Inputs {
  const image = r.pinnedImage('image');
  // A repository alone: the digest stays the source's, and tags go in "tags".
  const to = r.repository('to');
  const tags = parseTags(r, to);
  const policy = readVerifyPolicy(r);
  const source = r.credential('registry-username', 'registry-password');
  const dest = r.credential('to-registry-username', 'to-registry-password');
  return { image, to, tags, policy, credentials: credentialsFor(r, image, to, source, dest) };
}

/** Bare tags, or full references in the destination repository. */
function parseTags(r: InputReader, to: Reference): string[] {
  const tags = new Set<string>();
  for (const line of r.list('tags')) {
    const ref = /[/:@]/.test(line)
      ? parseReference(line, `${r.name('tags')} line "${line}"`)
      : to.withTag(line);
    if (ref.digest || !ref.tag || ref.name !== to.name)
      throw new UserError(
        `${r.name('tags')} has "${line}", which is not a tag of ${to.name}`,
        `Give bare tags (v1.2.3) or ${to.name}:<tag>`,
      );
    tags.add(ref.tag);
  }
  return [...tags];
}

/**
 * One client reads the source and writes the destination, so its credentials
 * are keyed by registry. On one registry a cross-repository mount needs one
 * identity that can read the one and write the other.
 */
function credentialsFor(
  r: InputReader,
  image: Reference,
  to: Reference,
  source: Credential | undefined,
  dest: Credential | undefined,
): CredentialMap {
  if (image.registry === to.registry && source && dest && source.username !== dest.username)
    throw new UserError(
      `the source and the destination are both on ${to.registry}, with two different users`,
      `Give one user that can read ${image.name} and push ${to.name} (${r.name('registry-username')} alone), as a cross-repository mount needs`,
    );
  const map: Record<string, Credential> = {};
  if (source) map[image.registry] = source;
  if (dest) map[to.registry] = dest;
  return map;
}

const bytes = (c: BlobCounts) => `${c.count} (${c.bytes} bytes)`;

const action: ActionDefinition<Inputs, { image: string; digest: string }> = {
  ...spec,
  parse,
  async main({ image, to, tags, policy, credentials }, { log, summary, jobDir }) {
    summary.title = `anew/promote: ${image.name}@${shortDigest(image.digest)} → ${to.name}`;
    summary.row('Source', image.toString()).row('Destination', to.name);
    // Every piece a streamed copy reads is a socket buffer outside V8's heap, freed only once its
    // small wrapper is collected. Node 24 grows the young generation during start-up, so the
    // wrappers then outlive ~100 MB of buffers before a collection comes (a 500 MB promotion
    // peaked at 171-187 MB). Kept at its first size, it is scavenged every MB or so of objects
    // (127-138 MB), at well under a millisecond a time. A one-shot process, so it changes nothing else.
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    const client = new RegistryClient({ log, credentials });
    // Sigstore loads while the first reads are on their way, not at start-up.
    const verifier = import('@anew/core/provenance/verify');
    verifier.catch(() => {}); // awaited in the gate
    // The gate: promote reads beside it, and writes nothing at the destination unless it passes.
    const gate = async () => {
      const { verifyImage } = await verifier;
      const verified = await verifyImage(client, image, policy, log, { cacheDir: path.dirname(jobDir) });
      for (const m of verified.manifests) {
        summary.row(
          m.platform ? `Verified ${m.platform}` : 'Verified',
          `${m.attestation} (${m.signer.subject})`,
        );
      }
    };
    const result = await promoteImage(client, { from: image, to, tags, gate }, log);
    summary
      .row('Image', result.image.toString())
      .row('Blobs copied', bytes(result.copied))
      .row('Blobs mounted', bytes(result.mounted))
      .row('Blobs skipped (already there)', bytes(result.skipped))
      .row('Manifests', result.manifests)
      .row('Referrers', `${result.referrers} written, ${result.referrersPresent} already there`)
      .row('Tags', result.tags.map((t) => `${to.name}:${t}`).join(' '));
    log.info(
      `promoted ${result.image}: ${result.copied.count} blobs copied (${result.copied.bytes} bytes), ${result.mounted.count} mounted, ${result.skipped.count} skipped`,
    );
    return { image: result.image.toString(), digest: result.digest };
  },
};

export default action;
