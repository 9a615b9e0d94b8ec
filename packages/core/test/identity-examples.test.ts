import fs from 'node:fs';
import path from 'node:path';
import { EXAMPLE_IDENTITY_REGEXP, identityRegexp } from '@anew/core/provenance/policy';
import { describe, expect, it } from 'vitest';

/**
 * Every certificate-identity-regexp the docs show must accept the identity a
 * real GitHub workflow run carries: verification matches the whole identity,
 * so a pattern that stops at a prefix can never pass.
 */
const root = path.resolve(import.meta.dirname, '../../..');
const docs = [
  'README.md',
  ...fs.readdirSync(path.join(root, 'docs')).map((f) => `docs/${f}`),
  ...fs.readdirSync(path.join(root, 'actions')).map((a) => `actions/${a}/README.md`),
  ...(fs.existsSync(path.join(root, 'examples/workflows'))
    ? fs.readdirSync(path.join(root, 'examples/workflows')).map((f) => `examples/workflows/${f}`)
    : []),
].filter((f) => fs.existsSync(path.join(root, f)));

/** The patterns a file shows: `certificate-identity-regexp: '…'` in YAML, `--certificate-identity-regexp '…'` in shell. */
function patternsIn(text: string): string[] {
  return [...text.matchAll(/certificate-identity-regexp[:=]?\s+(['"])(.+?)\1/g)].map((m) => m[2]!);
}

/** A workflow identity as Fulcio writes it for a GitHub Actions run of acme/web. */
function identityFor(pattern: string): string {
  const ref = /refs\/tags/.test(pattern) ? 'refs/tags/v1.2.3' : 'refs/heads/main';
  return `https://github.com/acme/web/.github/workflows/release.yml@${ref}`;
}

const examples = docs.flatMap((file) =>
  patternsIn(fs.readFileSync(path.join(root, file), 'utf8')).map((p) => [file, p] as const),
);

describe('certificate-identity-regexp examples', () => {
  it('are found in the docs', () => {
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });

  it.each(examples)('%s: %s accepts a real workflow identity', (_file, pattern) => {
    const concrete = pattern
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a workflow expression in the docs
      .replaceAll('${{ github.repository }}', 'acme/web')
      .replaceAll('OWNER/REPO', 'acme/web');
    expect(identityRegexp(concrete).test(identityFor(concrete))).toBe(true);
    // …and not another repository's.
    expect(identityRegexp(concrete).test(identityFor(concrete).replace('acme/web', 'acme/web-evil'))).toBe(
      false,
    );
  });

  it('includes the hint verify gives when no signer is set', () => {
    const concrete = EXAMPLE_IDENTITY_REGEXP.replace('OWNER/REPO', 'acme/web');
    expect(identityRegexp(concrete).test(identityFor(concrete))).toBe(true);
  });
});
