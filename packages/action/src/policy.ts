import fs from 'node:fs';
import { UserError } from '@anew/core/errors';
import {
  checkPolicy,
  GITHUB_ACTIONS_ISSUER,
  SLSA_PROVENANCE_V1,
  type VerifyPolicy,
} from '@anew/core/provenance/policy';
import * as input from './inputs.ts';

/**
 * The provenance policy inputs that verify, deploy and promote share, read in
 * one place: public-key, certificate-identity, certificate-identity-regexp,
 * certificate-oidc-issuer, source-repository, source-ref, builder-id,
 * trusted-root (and predicate-type where the action declares it).
 */
export function readVerifyPolicy(): VerifyPolicy {
  const trustedRoot = input.optional('trusted-root');
  if (trustedRoot !== undefined && !fs.existsSync(trustedRoot)) {
    throw new UserError(
      `input "trusted-root" names ${trustedRoot}, which does not exist`,
      'Give the path of a Sigstore trusted root JSON file',
    );
  }
  const policy: VerifyPolicy = {
    publicKey: readPublicKey(),
    certificateIdentity: input.optional('certificate-identity'),
    certificateIdentityRegexp: input.optional('certificate-identity-regexp'),
    certificateOidcIssuer: input.optional('certificate-oidc-issuer') ?? GITHUB_ACTIONS_ISSUER,
    sourceRepository: input.optional('source-repository'),
    sourceRef: input.optional('source-ref'),
    builderId: input.optional('builder-id'),
    trustedRoot,
    predicateType: input.optional('predicate-type') ?? SLSA_PROVENANCE_V1,
  };
  checkPolicy(policy);
  return policy;
}

/** A PEM public key given inline, or the path of a file that holds one (as cosign takes it). */
function readPublicKey(): string | undefined {
  const v = input.optional('public-key');
  if (v === undefined || v.includes('-----BEGIN')) return v;
  if (!fs.existsSync(v)) {
    throw new UserError(
      'input "public-key" is neither a PEM key nor the path of a file',
      'Give the PEM text (-----BEGIN PUBLIC KEY-----…) or a path',
    );
  }
  return fs.readFileSync(v, 'utf8');
}
