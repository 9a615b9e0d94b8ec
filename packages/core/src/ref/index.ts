import { UserError } from '../errors/index.ts';

/**
 * Image references parsed and normalized the way docker does
 * (github.com/distribution/reference): `docker.io` and `library/` by default,
 * registries with ports, tags, digests.
 */

export const DEFAULT_REGISTRY = 'docker.io';
const LEGACY_REGISTRIES = new Set(['index.docker.io', 'registry-1.docker.io']);

const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domain = `(?:${domainName}|${ipv6})(?::[0-9]+)?`;

const PATH_COMPONENT_RE = new RegExp(`^${pathComponent}$`);
const DOMAIN_RE = new RegExp(`^${domain}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256_RE = /^sha256:[a-f0-9]{64}$/;
const SHA512_RE = /^sha512:[a-f0-9]{128}$/;
const MAX_NAME = 255;

export type Digest = `sha256:${string}` | `sha512:${string}`;

/** A digest in OCI form, checked; `what` names the input for the message. */
export function parseDigest(value: string, what = 'digest'): Digest {
  if (!DIGEST_RE.test(value)) {
    throw new UserError(
      `${what} "${value}" is not a digest`,
      'A digest looks like sha256: followed by 64 lower-case hex characters',
    );
  }
  if (value.startsWith('sha256:')) {
    if (!SHA256_RE.test(value))
      throw new UserError(
        `${what} "${value}" is not a valid sha256 digest`,
        'It needs exactly 64 lower-case hex characters after sha256:',
      );
    return value as Digest;
  }
  if (value.startsWith('sha512:')) {
    if (!SHA512_RE.test(value))
      throw new UserError(
        `${what} "${value}" is not a valid sha512 digest`,
        'It needs exactly 128 lower-case hex characters after sha512:',
      );
    return value as Digest;
  }
  throw new UserError(`${what} "${value}" uses an unsupported algorithm`, 'Use a sha256 digest');
}

export function isDigest(value: string): value is Digest {
  return SHA256_RE.test(value) || SHA512_RE.test(value);
}

export class Reference {
  constructor(
    /** Registry host with optional port, normalized (`docker.io`, `ghcr.io`, `127.0.0.1:5000`). */
    readonly registry: string,
    /** Repository path within the registry (`library/nginx`, `acme/web`). */
    readonly repository: string,
    readonly tag?: string,
    readonly digest?: Digest,
  ) {}

  /** registry/repository, without tag or digest. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** What docker shows: no docker.io, no library/. */
  get familiarName(): string {
    if (this.registry !== DEFAULT_REGISTRY) return this.name;
    return this.repository.startsWith('library/') ? this.repository.slice(8) : this.repository;
  }

  /** The host to speak the distribution API to. */
  get apiHost(): string {
    return this.registry === DEFAULT_REGISTRY ? 'registry-1.docker.io' : this.registry;
  }

  /** Tag or digest as the registry API wants it in /manifests/<reference>. */
  get apiReference(): string {
    const r = this.digest ?? this.tag;
    if (!r) throw new Error(`reference ${this.name} has neither tag nor digest`);
    return r;
  }

  withDigest(digest: Digest): Reference {
    return new Reference(this.registry, this.repository, undefined, digest);
  }

  withTag(tag: string): Reference {
    checkTag(tag);
    return new Reference(this.registry, this.repository, tag, undefined);
  }

  /** Same repository, nothing pinned. */
  get repo(): Reference {
    return new Reference(this.registry, this.repository);
  }

  toString(): string {
    let s = this.name;
    if (this.tag) s += `:${this.tag}`;
    if (this.digest) s += `@${this.digest}`;
    return s;
  }
}

function checkTag(tag: string): void {
  if (tag.length > 128)
    throw new UserError(
      `tag "${tag.slice(0, 20)}…" is ${tag.length} characters long`,
      'A tag has at most 128',
    );
  if (!TAG_RE.test(tag))
    throw new UserError(
      `tag "${tag}" is not valid`,
      'A tag starts with a letter, digit or underscore and holds only letters, digits, "_", "." and "-"',
    );
}

/**
 * Parse a reference such as `nginx`, `ghcr.io/acme/web:1.2`,
 * `localhost:5000/app@sha256:…`. `what` names the input for messages.
 */
export function parseReference(input: string, what = 'image'): Reference {
  const value = input.trim();
  const example =
    'Expected something like ghcr.io/owner/app, ghcr.io/owner/app:tag or ghcr.io/owner/app@sha256:…';
  if (!value) throw new UserError(`${what} is empty`, example);
  if (/\s/.test(value)) throw new UserError(`${what} "${value}" contains white space`, example);
  if (/[;&|$`<>(){}\\'"!*?]/.test(value)) {
    throw new UserError(
      `${what} "${value}" contains characters that are not allowed in an image reference`,
      example,
    );
  }

  let rest = value;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = parseDigest(rest.slice(at + 1), `digest in ${what} "${value}"`);
    rest = rest.slice(0, at);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!tag) throw new UserError(`${what} "${value}" has an empty tag`, example);
    checkTag(tag);
  }

  if (!rest) throw new UserError(`${what} "${value}" has no repository name`, example);
  if (rest.length > MAX_NAME)
    throw new UserError(
      `${what} "${value}" is longer than ${MAX_NAME} characters`,
      'Use a shorter repository name',
    );

  let registry = DEFAULT_REGISTRY;
  let path = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || /[A-Z]/.test(first)) {
      if (!DOMAIN_RE.test(first))
        throw new UserError(`registry "${first}" in ${what} "${value}" is not a valid host`, example);
      registry = LEGACY_REGISTRIES.has(first) ? DEFAULT_REGISTRY : first;
      path = rest.slice(firstSlash + 1);
    }
  }
  if (!path) throw new UserError(`${what} "${value}" has no repository name`, example);
  for (const component of path.split('/')) {
    if (component === '..' || component === '.') {
      throw new UserError(`${what} "${value}" contains "${component}" as a path component`, example);
    }
    if (/[A-Z]/.test(component)) {
      throw new UserError(
        `repository name in ${what} "${value}" must be lower case`,
        `Use "${path.toLowerCase()}"`,
      );
    }
    if (!PATH_COMPONENT_RE.test(component)) {
      throw new UserError(
        `${what} "${value}" has an invalid path component "${component}"`,
        'Components hold lower-case letters and digits, separated by ".", "_", "__" or "-"',
      );
    }
  }
  if (registry === DEFAULT_REGISTRY && !path.includes('/')) path = `library/${path}`;
  return new Reference(registry, path, tag, digest);
}

/**
 * The reference with its repository path in lower case, as
 * docker/metadata-action writes image names: `ghcr.io/${{ github.repository }}`
 * is `ghcr.io/Acme/Web` for a repository with capitals, and registries take
 * only lower case. The registry host and the tag are left as they are (a
 * tag is case-sensitive), and so is a first component that names a host.
 */
export function lowerCaseRepository(input: string): string {
  const value = input.trim();
  const at = value.indexOf('@');
  const named = at >= 0 ? value.slice(0, at) : value;
  const digest = at >= 0 ? value.slice(at) : '';
  const lastSlash = named.lastIndexOf('/');
  const lastColon = named.lastIndexOf(':');
  const name = lastColon > lastSlash ? named.slice(0, lastColon) : named;
  const tag = lastColon > lastSlash ? named.slice(lastColon) : '';
  const firstSlash = name.indexOf('/');
  const first = firstSlash >= 0 ? name.slice(0, firstSlash) : '';
  const host = first.includes('.') || first.includes(':') || first === 'localhost';
  const registry = host ? `${first}/` : '';
  return `${registry}${(host ? name.slice(firstSlash + 1) : name).toLowerCase()}${tag}${digest}`;
}

/**
 * A reference that must be pinned by digest: deploying, attesting, verifying
 * and promoting refuse tags, since a tag can move under them.
 */
export function parsePinnedReference(input: string, what = 'image'): Reference & { digest: Digest } {
  const ref = parseReference(input, what);
  if (!ref.digest) {
    throw new UserError(
      `${what} "${input.trim()}" is not pinned by digest`,
      `anew deploys, attests and promotes only immutable images: pass ${ref.name}@sha256:… (the "image" output of the build action)`,
    );
  }
  return ref as Reference & { digest: Digest };
}

/** A repository with neither tag nor digest, as `build` and `promote` take. */
export function parseRepository(input: string, what = 'image'): Reference {
  const ref = parseReference(input, what);
  if (ref.tag || ref.digest) {
    throw new UserError(
      `${what} "${input.trim()}" must name a repository without tag or digest`,
      `Pass "${ref.name}" and give tags in the "tags" input`,
    );
  }
  return ref;
}

/** The short form of a digest used in names: the first 12 hex characters. */
export function shortDigest(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}
