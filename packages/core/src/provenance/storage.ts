import { formatPlatform } from '../image/platform.ts';
import type { Logger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import {
  type Descriptor,
  EMPTY_DESCRIPTOR,
  EMPTY_JSON,
  isIndex,
  MediaType,
  type RegistryClient,
  sha256,
} from '../registry/index.ts';
import { BUNDLE_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION } from './bundle.ts';

/**
 * Attestations live next to the image as OCI 1.1 referrers, in the format
 * cosign (--new-bundle-format) and GitHub's attest actions write: an artifact
 * manifest whose artifactType and only layer are the Sigstore bundle, config
 * the empty descriptor, subject the image manifest.
 */

/** The artifact manifest that attaches `bundle` to `subject`. */
export function attestationManifest(
  bundle: Buffer,
  subject: Descriptor,
  predicateType: string,
  created: Date,
): Buffer {
  const layerDigest = sha256(bundle);
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: BUNDLE_MEDIA_TYPE,
      config: EMPTY_DESCRIPTOR,
      layers: [
        {
          mediaType: BUNDLE_MEDIA_TYPE,
          digest: layerDigest,
          size: bundle.length,
          // A file name for `oras pull`, as cosign's bundle spec suggests.
          annotations: { 'org.opencontainers.image.title': `${layerDigest.replace(':', '-')}.sigstore.json` },
        },
      ],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        [PREDICATE_TYPE_ANNOTATION]: predicateType,
        'org.opencontainers.image.created': created.toISOString(),
      },
    }),
  );
}

/** Uploads the bundle and its manifest, and records it as a referrer of `subject`. */
export async function storeAttestation(
  client: RegistryClient,
  repo: Reference,
  bundle: Buffer,
  subject: Descriptor,
  predicateType: string,
  created: Date,
): Promise<Digest> {
  await client.pushBlob(repo, EMPTY_JSON);
  await client.pushBlob(repo, bundle);
  const manifest = attestationManifest(bundle, subject, predicateType, created);
  return client.pushReferrer(repo, manifest, MediaType.ociManifest);
}

export interface StoredAttestation {
  /** Digest of the attestation manifest. */
  digest: Digest;
  bundle: Buffer;
}

/**
 * The bundles attached to `subject`, of `predicateType` where the manifest
 * says (the annotation is a filter only; the statement inside is checked).
 * An attestation whose manifest or bundle cannot be read is logged and skipped.
 */
export async function listAttestations(
  client: RegistryClient,
  repo: Reference,
  subject: Digest,
  predicateType: string | undefined,
  log: Logger,
): Promise<StoredAttestation[]> {
  const refs = await client.referrers(repo, subject, BUNDLE_MEDIA_TYPE);
  const out: StoredAttestation[] = [];
  for (const d of refs) {
    const pt = d.annotations?.[PREDICATE_TYPE_ANNOTATION];
    if (predicateType && pt !== undefined && pt !== predicateType) continue;
    const manifest = await client.getManifest(repo.withDigest(d.digest), [MediaType.ociManifest]);
    const layer = (manifest.json.layers as Descriptor[] | undefined)?.find(
      (l) => l.mediaType === BUNDLE_MEDIA_TYPE,
    );
    if (!layer) {
      log.warning(`attestation ${d.digest} has no Sigstore bundle layer; ignored`);
      continue;
    }
    out.push({ digest: d.digest, bundle: await client.getBlob(repo, layer.digest, layer.size) });
  }
  return out;
}

/** The image and, for an index, every platform manifest (not buildx's attestation manifests). */
export async function manifestsToAttest(
  client: RegistryClient,
  image: Reference & { digest: Digest },
): Promise<{ descriptor: Descriptor; platform?: string }[]> {
  const top = await client.getManifest(image);
  const out: { descriptor: Descriptor; platform?: string }[] = [
    { descriptor: { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length } },
  ];
  if (isIndex(top.mediaType)) {
    for (const d of (top.json.manifests ?? []) as Descriptor[]) {
      if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') continue;
      if (isIndex(d.mediaType)) continue;
      out.push({ descriptor: d, platform: d.platform ? formatPlatform(d.platform) : undefined });
    }
  }
  return out;
}
