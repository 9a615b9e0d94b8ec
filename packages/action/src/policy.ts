import fs from 'node:fs';
import { UserError } from '@anew/core/errors';
import {
  checkPolicy,
  GITHUB_ACTIONS_ISSUER,
  SLSA_PROVENANCE_V1,
  type VerifyPolicy,
} from '@anew/core/provenance/policy';
import type { InputReader } from './reader.ts';

/** The policy inputs that ask for verification when given (the issuer alone has a default). */
export const POLICY_KEYS = [
  'public-key',
  'certificate-identity',
  'certificate-identity-regexp',
  'source-repository',
  'source-ref',
  'source-commit',
  'builder-id',
  'trusted-root',
] as const;

/**
 * The provenance policy inputs that verify, deploy and promote share, read in
 * one place: public-key, certificate-identity, certificate-identity-regexp,
 * certificate-oidc-issuer, source-repository, source-ref, source-commit, builder-id,
 * trusted-root (and predicate-type where the action declares it).
 */
export function readVerifyPolicy(r: InputReader, prefix = ''): VerifyPolicy {
  // build's cache policy is the same policy under `cache-` names, of which it declares a few.
  const opt = (key: string) => (r.spec[prefix + key] ? r.optional(prefix + key) : undefined);
  const trustedRoot = opt('trusted-root');
  if (trustedRoot !== undefined && !fs.existsSync(trustedRoot)) {
    throw new UserError(
      `${r.name(prefix + 'trusted-root')} names ${trustedRoot}, which does not exist`,
      'Give the path of a Sigstore trusted root JSON file',
    );
  }
  const policy: VerifyPolicy = {
    publicKey: readPublicKey(r, prefix + 'public-key'),
    certificateIdentity: opt('certificate-identity'),
    certificateIdentityRegexp: opt('certificate-identity-regexp'),
    certificateOidcIssuer: opt('certificate-oidc-issuer') ?? GITHUB_ACTIONS_ISSUER,
    sourceRepository: opt('source-repository'),
    sourceRef: opt('source-ref'),
    sourceCommit: opt('source-commit'),
    builderId: opt('builder-id'),
    trustedRoot,
    predicateType: opt('predicate-type') ?? SLSA_PROVENANCE_V1,
  };
  checkPolicy(policy);
  return policy;
}

/** A PEM public key given inline, or the path of a file that holds one (as cosign takes it). */
function readPublicKey(r: InputReader, key: string): string | undefined {
  if (!r.spec[key]) return undefined;
  const v = r.optional(key);
  if (v === undefined || v.includes('-----BEGIN')) return v;
  if (!fs.existsSync(v.trim())) {
    throw new UserError(
      `${r.name(key)} is neither a PEM key nor the path of a file`,
      'Give the PEM text (-----BEGIN PUBLIC KEY-----…) or a path',
    );
  }
  return fs.readFileSync(v.trim(), 'utf8');
}
