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
export function readVerifyPolicy(r: InputReader): VerifyPolicy {
  const trustedRoot = r.optional('trusted-root');
  if (trustedRoot !== undefined && !fs.existsSync(trustedRoot)) {
    throw new UserError(
      `${r.name('trusted-root')} names ${trustedRoot}, which does not exist`,
      'Give the path of a Sigstore trusted root JSON file',
    );
  }
  const policy: VerifyPolicy = {
    publicKey: readPublicKey(r),
    certificateIdentity: r.optional('certificate-identity'),
    certificateIdentityRegexp: r.optional('certificate-identity-regexp'),
    certificateOidcIssuer: r.optional('certificate-oidc-issuer') ?? GITHUB_ACTIONS_ISSUER,
    sourceRepository: r.optional('source-repository'),
    sourceRef: r.optional('source-ref'),
    sourceCommit: r.optional('source-commit'),
    builderId: r.optional('builder-id'),
    trustedRoot,
    predicateType:
      (r.spec['predicate-type'] ? r.optional('predicate-type') : undefined) ?? SLSA_PROVENANCE_V1,
  };
  checkPolicy(policy);
  return policy;
}

/** A PEM public key given inline, or the path of a file that holds one (as cosign takes it). */
function readPublicKey(r: InputReader): string | undefined {
  const v = r.optional('public-key');
  if (v === undefined || v.includes('-----BEGIN')) return v;
  if (!fs.existsSync(v.trim())) {
    throw new UserError(
      `${r.name('public-key')} is neither a PEM key nor the path of a file`,
      'Give the PEM text (-----BEGIN PUBLIC KEY-----…) or a path',
    );
  }
  return fs.readFileSync(v.trim(), 'utf8');
}
