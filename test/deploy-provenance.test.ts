import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildAppImage, removeApp, type TestImage } from './fixtures/apps/images.ts';
import { containers } from './fixtures/apps/world.ts';
import { newKeyPair, workflowEnv } from './fixtures/sigstore/workflow-env.ts';
import { runAction } from './helpers/action.ts';
import { services } from './helpers/services.ts';

/**
 * deploy's provenance gate: the same verification as anew/verify, before
 * anything starts, against attestations anew/attest stored in the real
 * registry (signed with a key, so no Sigstore instance is needed).
 */
const app = 'e2e-provenance';
let attested: TestImage;
let bare: TestImage;
const key = newKeyPair();

beforeAll(async () => {
  attested = buildAppImage(`anew-test/${app}`, { version: 'v1' });
  bare = buildAppImage(`anew-test/${app}`, { version: 'v2' });
  const a = await runAction(
    'attest',
    { image: attested.image, 'signing-key': key.privatePem },
    { env: workflowEnv() },
  );
  expect(a.code, a.log).toBe(0);
});

afterAll(() => removeApp(app, [attested, bare].filter(Boolean)));

const target = { app, environment: 'production', 'docker-host': services.dockerHost };

it('refuses an image without provenance before anything starts', async () => {
  const d = await runAction('deploy', {
    ...target,
    image: bare.image,
    'require-provenance': 'true',
    'public-key': key.publicPem,
  });
  expect(d.code).not.toBe(0);
  expect(d.log).toMatch(/has no attestation/);
  expect(containers(app)).toEqual([]);
});

it('says what to set when provenance is required without a signer', async () => {
  const d = await runAction('deploy', { ...target, image: attested.image, 'require-provenance': 'true' });
  expect(d.code).not.toBe(0);
  expect(d.log).toMatch(/no signer is required: set public-key/);
  expect(containers(app)).toEqual([]);
});

it('deploys an image whose provenance satisfies the policy', async () => {
  const d = await runAction('deploy', { ...target, image: attested.image, 'public-key': key.publicPem });
  expect(d.code, d.log).toBe(0);
  expect(d.log).toMatch(/satisfies the policy/);
  expect(containers(app).map((c) => c.state)).toEqual(['running']);
});
