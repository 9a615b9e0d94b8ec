import { type ActionSpec, registryInputs } from '@anew/action';

const daemonless = 'Daemonless build';

export const spec = {
  name: 'build',
  description: 'Build a content-addressed image, reproducibly; reuse it when nothing changed.',
  inputs: {
    image: {
      description: 'Repository to push to, without tag or digest (e.g. ghcr.io/acme/web).',
      required: true,
      group: 'Image',
      max: 512,
    },
    context: {
      description: 'Build context directory; every path is resolved inside it.',
      default: '.',
      group: 'Image',
    },
    dockerfile: {
      description: 'Dockerfile, relative to the context; used when "files" is empty.',
      default: 'Dockerfile',
      group: 'Dockerfile build',
    },
    'build-args': {
      description: 'Dockerfile build arguments, KEY=VALUE per line.',
      multiline: true,
      group: 'Dockerfile build',
    },
    target: { description: 'Dockerfile stage to build.', group: 'Dockerfile build', max: 128 },
    base: {
      description: 'Daemonless build: base image reference (resolved once to a digest) or "scratch".',
      group: daemonless,
      max: 512,
    },
    files: {
      description:
        'Daemonless build: one SOURCE:DESTINATION per line, SOURCE relative to the context, directories recursively. Setting it selects the daemonless builder.',
      multiline: true,
      group: daemonless,
    },
    entrypoint: {
      description: 'Daemonless build: entrypoint, a JSON array or a string split like a shell.',
      group: daemonless,
    },
    cmd: {
      description: 'Daemonless build: command, a JSON array or a string split like a shell.',
      group: daemonless,
    },
    env: {
      description: 'Daemonless build: environment, KEY=VALUE per line.',
      multiline: true,
      group: daemonless,
    },
    workdir: { description: 'Daemonless build: working directory.', group: daemonless, max: 1024 },
    user: { description: 'Daemonless build: user (name, uid or uid:gid).', group: daemonless, max: 256 },
    labels: {
      description:
        'Image labels, KEY=VALUE per line (OCI source and revision labels are added from the GitHub context; the revision is left out of the inputs-digest, so a later commit with the same inputs reuses the image).',
      multiline: true,
      group: 'Image',
    },
    tags: {
      description:
        'Human aliases pushed after the manifest, one per line: a bare tag or a full reference (the "tags" output of docker/metadata-action fits).',
      multiline: true,
      group: 'Image',
    },
    platforms: {
      description:
        'Platforms, comma-separated (e.g. linux/amd64,linux/arm64). Default: those of the base image, else linux/amd64.',
      multiline: true,
      group: 'Image',
    },
    'source-date-epoch': {
      description:
        'Timestamp (seconds) for every file and the config; default: the commit time of HEAD (then left out of the inputs-digest), else 0.',
      group: 'Image',
      max: 16,
    },
    cache: {
      description:
        'Look up an image built from the same inputs (recorded as the tag anew-inputs-<hex>) and reuse it without building or uploading; "false" always builds, and the result is still recorded. Default: true for daemonless builds ("files"), false for Dockerfile builds, whose RUN, ADD and COPY --from can fetch what the inputs-digest cannot see.',
      boolean: true,
      group: 'Cache',
    },
    'cache-public-key': {
      description:
        'PEM public key (inline or a file path): reuse a cached image only when it carries provenance signed with this key for the same inputs-digest; otherwise rebuild and say why. Without a cache policy, whatever the cache tag points at is reused.',
      multiline: true,
      group: 'Cache',
    },
    'cache-certificate-identity-regexp': {
      description:
        'Keyless cache policy: reuse a cached image only when its provenance is signed by a Sigstore certificate whose whole identity matches this regular expression, for the same inputs-digest.',
      group: 'Cache',
    },
    'cache-certificate-oidc-issuer': {
      description:
        "OIDC issuer of the certificate the keyless cache policy requires. Default: GitHub Actions' (https://token.actions.githubusercontent.com).",
      group: 'Cache',
    },
    'cache-trusted-root': {
      description:
        "Keyless cache policy: path of the Sigstore trusted root JSON (trusted_root.json) that the certificate and transparency log are checked against, for a private Sigstore instance or GitHub's own (`gh attestation trusted-root`). Default: the public-good instance. Checked before anything is built.",
      group: 'Cache',
    },
    ...registryInputs,
  },
  outputs: {
    digest: { description: 'Digest of the image manifest (or index).' },
    image: { description: 'repository@digest, the immutable reference to deploy.' },
    'inputs-digest': { description: 'sha256 of a canonical description of every build input.' },
    'cache-hit': { description: 'true when an image built from the same inputs was reused.' },
    tags: { description: 'The tags pushed, one full reference per line.' },
    'base-digest': { description: 'Digest the base image resolved to (daemonless builds).' },
  },
} as const satisfies ActionSpec;
