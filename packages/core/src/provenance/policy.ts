import { UserError } from '../errors/index.ts';
import type { Digest } from '../ref/index.ts';
import { loadPublicKey } from './keys.ts';
import { AttestationRefused } from './refusal.ts';
import { SLSA_PROVENANCE_V1, type Statement } from './statement.ts';

/** The issuer of GitHub Actions' OIDC tokens, the default for certificate-oidc-issuer. */
export { SLSA_PROVENANCE_V1 };

export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';

/** What an attestation must satisfy to count. The verify, deploy and promote actions read it alike. */
export interface VerifyPolicy {
  /** PEM public key: accept key-signed attestations made with its private key (and nothing keyless). */
  publicKey?: string;
  /** Exact certificate identity (SAN), e.g. https://github.com/org/app/.github/workflows/release.yml@refs/heads/main. */
  certificateIdentity?: string;
  /** A regular expression the whole identity must match (anchored at both ends for the user). */
  certificateIdentityRegexp?: string;
  certificateOidcIssuer: string;
  /** owner/name, or the repository URL. */
  sourceRepository?: string;
  /** A glob on the git ref, e.g. refs/tags/v*. */
  sourceRef?: string;
  /**
   * The git commit the image was built from (full hex). With sourceRef it
   * says "built on main from the commit this tag names": a release promotes
   * the main-branch build, whose ref can never be the tag's.
   */
  sourceCommit?: string;
  builderId?: string;
  predicateType: string;
  /** Path of a Sigstore trusted root JSON; default the public-good instance. */
  trustedRoot?: string;
}

export function defaultPolicy(overrides: Partial<VerifyPolicy> = {}): VerifyPolicy {
  return { certificateOidcIssuer: GITHUB_ACTIONS_ISSUER, predicateType: SLSA_PROVENANCE_V1, ...overrides };
}

/** Who signed, as the certificate says (keyless), or the key hint. */
export interface SignerIdentity {
  kind: 'key' | 'keyless';
  /** The certificate's SAN, or `key:<hint>`. */
  subject: string;
  issuer?: string;
  /** Fulcio's certificate extensions by OID (source repository, ref, build signer …). */
  extensions: Record<string, string>;
}

/** Fulcio certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md). */
export const FULCIO_OID = {
  buildSignerUri: '1.3.6.1.4.1.57264.1.9',
  sourceRepositoryUri: '1.3.6.1.4.1.57264.1.12',
  sourceRepositoryDigest: '1.3.6.1.4.1.57264.1.13',
  sourceRepositoryRef: '1.3.6.1.4.1.57264.1.14',
} as const;

/**
 * Checks the policy itself before anything is fetched, so a mistake in the
 * workflow fails at once with what to change. Returns the compiled identity matcher.
 */
export function checkPolicy(p: VerifyPolicy): void {
  if (p.certificateIdentity && p.certificateIdentityRegexp) {
    throw new UserError(
      'both certificate-identity and certificate-identity-regexp are set',
      'Set only one of them',
    );
  }
  if (p.publicKey && (p.certificateIdentity || p.certificateIdentityRegexp)) {
    throw new UserError(
      'public-key is set together with certificate-identity(-regexp); a key-signed attestation has no certificate identity',
      'Use public-key for key-signed attestations, or certificate-identity(-regexp) for keyless ones',
    );
  }
  if (!p.publicKey && !p.certificateIdentity && !p.certificateIdentityRegexp) {
    throw new UserError(
      'no signer is required: set public-key (key-signed attestations) or certificate-identity / certificate-identity-regexp (keyless)',
      `For keyless GitHub attestations use for example certificate-identity-regexp: ${EXAMPLE_IDENTITY_REGEXP}`,
    );
  }
  if (p.publicKey) loadPublicKey(p.publicKey, 'public-key');
  if (p.certificateIdentityRegexp) identityRegexp(p.certificateIdentityRegexp);
  if (p.sourceRef) globToRegExp(p.sourceRef);
  if (p.sourceCommit !== undefined && !/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i.test(p.sourceCommit)) {
    throw new UserError(
      `source-commit is "${p.sourceCommit.slice(0, 80)}", not a full git commit hash`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a workflow expression in a hint
      'Give the 40 hex digits of the commit, e.g. ${{ github.sha }}',
    );
  }
}

/** The commit a provenance statement names: the git dependency's gitCommit, as GitHub's attestations write it. */
export function statementCommit(statement: Statement): string | undefined {
  const deps = statement.predicate?.buildDefinition?.resolvedDependencies;
  if (!Array.isArray(deps)) return undefined;
  for (const d of deps) {
    const c = d?.digest?.gitCommit;
    if (typeof c === 'string' && (typeof d.uri !== 'string' || d.uri.startsWith('git+'))) return c;
  }
  return undefined;
}

/**
 * The identity pattern the docs and hints show: any workflow of the repository, run on main. It is matched
 * whole, so it spells out the workflow file and the ref rather than ending at a prefix.
 */
export const EXAMPLE_IDENTITY_REGEXP =
  '^https://github\\.com/OWNER/REPO/\\.github/workflows/.+@refs/heads/main$';

/** certificate-identity-regexp as verification applies it: the whole identity must match. */
export function identityRegexp(source: string): RegExp {
  try {
    // Anchored: a pattern such as "org/app" must not accept "org/app-evil".
    return new RegExp(`^(?:${source})$`);
  } catch (e) {
    throw new UserError(
      `certificate-identity-regexp is not a valid regular expression: ${(e as Error).message}`,
    );
  }
}

/** `*` matches within one path segment, `**` across segments, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Compares a repository given as owner/name or URL with a repository URL, case-insensitively as GitHub does. */
export function sameRepository(wanted: string, url: string | undefined): boolean {
  if (!url) return false;
  const w = wanted.replace(/\/+$/, '').toLowerCase();
  const u = url
    .replace(/\/+$/, '')
    .replace(/^git\+/, '')
    .toLowerCase();
  if (/^[a-z]+:\/\//.test(w)) return w === u;
  try {
    return new URL(u).pathname === `/${w}`;
  } catch {
    return false;
  }
}

/**
 * Checks a cryptographically verified attestation against the policy and
 * the image it must be about. Throws AttestationRefused with the first
 * reason it does not count.
 */
export function checkAttestation(
  statement: Statement,
  signer: SignerIdentity,
  digest: Digest,
  p: VerifyPolicy,
): void {
  if (statement.predicateType !== p.predicateType) {
    throw new AttestationRefused(`its predicate type is ${statement.predicateType}, not ${p.predicateType}`);
  }
  const [algo, hex] = digest.split(':') as [string, string];
  if (!statement.subject.some((s) => s.digest?.[algo] === hex)) {
    const named = statement.subject.map((s) => `${algo}:${s.digest?.[algo] ?? '?'}`).join(', ');
    throw new AttestationRefused(`its statement is about ${named}, not ${digest}`);
  }
  if (signer.kind === 'keyless') {
    if (signer.issuer !== p.certificateOidcIssuer) {
      throw new AttestationRefused(
        `its certificate was issued for tokens of ${signer.issuer ?? 'no issuer'}, not ${p.certificateOidcIssuer}`,
      );
    }
    if (p.certificateIdentity !== undefined && signer.subject !== p.certificateIdentity) {
      throw new AttestationRefused(
        `its certificate identity is ${signer.subject}, not ${p.certificateIdentity}`,
      );
    }
    if (
      p.certificateIdentityRegexp !== undefined &&
      !identityRegexp(p.certificateIdentityRegexp).test(signer.subject)
    ) {
      throw new AttestationRefused(
        `its certificate identity ${signer.subject} does not match ^(?:${p.certificateIdentityRegexp})$`,
      );
    }
  }
  const pred = statement.predicate ?? {};
  const workflow = pred.buildDefinition?.externalParameters?.workflow ?? {};
  if (p.sourceRepository !== undefined) {
    if (!sameRepository(p.sourceRepository, workflow.repository)) {
      throw new AttestationRefused(
        `its source repository is ${workflow.repository ?? 'not named'}, not ${p.sourceRepository}`,
      );
    }
    // Keyless: the certificate's claim comes from the OIDC token, which the workflow cannot choose.
    const certRepo = signer.extensions[FULCIO_OID.sourceRepositoryUri];
    if (certRepo !== undefined && !sameRepository(p.sourceRepository, certRepo)) {
      throw new AttestationRefused(
        `its certificate's source repository is ${certRepo}, not ${p.sourceRepository}`,
      );
    }
  }
  if (p.sourceRef !== undefined) {
    const re = globToRegExp(p.sourceRef);
    if (typeof workflow.ref !== 'string' || !re.test(workflow.ref)) {
      throw new AttestationRefused(
        `its source ref is ${workflow.ref ?? 'not named'}, which does not match ${p.sourceRef}`,
      );
    }
    const certRef = signer.extensions[FULCIO_OID.sourceRepositoryRef];
    if (certRef !== undefined && !re.test(certRef)) {
      throw new AttestationRefused(
        `its certificate's source ref is ${certRef}, which does not match ${p.sourceRef}`,
      );
    }
  }
  if (p.sourceCommit !== undefined) {
    const wanted = p.sourceCommit.toLowerCase();
    const commit = statementCommit(statement);
    if (commit?.toLowerCase() !== wanted) {
      throw new AttestationRefused(`its source commit is ${commit ?? 'not named'}, not ${wanted}`);
    }
    // Keyless: the certificate's commit comes from the OIDC token, which the workflow cannot choose.
    const certCommit = signer.extensions[FULCIO_OID.sourceRepositoryDigest];
    if (certCommit !== undefined && certCommit.toLowerCase() !== wanted) {
      throw new AttestationRefused(`its certificate's source commit is ${certCommit}, not ${wanted}`);
    }
  }
  if (p.builderId !== undefined) {
    const builder = pred.runDetails?.builder?.id;
    if (builder !== p.builderId) {
      throw new AttestationRefused(`its builder is ${builder ?? 'not named'}, not ${p.builderId}`);
    }
  }
}
