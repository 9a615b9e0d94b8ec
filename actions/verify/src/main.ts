import fs from 'node:fs';
import path from 'node:path';
import type { ActionDefinition, InputReader } from '@anew/action';
import { readVerifyPolicy } from '@anew/action/policy';
import type { VerifyPolicy } from '@anew/core/provenance/policy';
import { type Digest, type Reference, shortDigest } from '@anew/core/ref';
import { type Credential, RegistryClient } from '@anew/core/registry';
import { spec } from './spec.ts';

interface Inputs {
  image: Reference & { digest: Digest };
  policy: VerifyPolicy;
  credential?: Credential;
}

function parse(r: InputReader): Inputs {
  const image = r.pinnedImage('image');
  const policy = readVerifyPolicy(r);
  const credential = r.credential('registry-username', 'registry-password');
  return { image, policy, credential };
}

const action: ActionDefinition<Inputs, { verified: boolean; 'predicate-path': string }> = {
  ...spec,
  parse,
  // For steps with continue-on-error: the refusal is also an output.
  failureOutputs: { verified: false },
  async main({ image, policy, credential }, { log, summary, jobDir }) {
    summary.title = `anew/verify: ${image.name}@${shortDigest(image.digest)}`;
    summary.row('Image', image.toString()).row('Predicate type', policy.predicateType);
    const client = new RegistryClient({
      log,
      credentials: credential ? { [image.registry]: credential } : undefined,
    });
    // Sigstore's verifier loads here, not at start-up (a step that fails on its inputs never needs
    // it), and without the signing clients.
    const { verifyImage } = await import('@anew/core/provenance/verify');
    const result = await verifyImage(client, image, policy, log, { cacheDir: path.dirname(jobDir) });
    fs.mkdirSync(jobDir, { recursive: true });
    const predicatePath = path.join(
      jobDir,
      `predicate-${image.digest.slice(image.digest.indexOf(':') + 1)}.json`,
    );
    fs.writeFileSync(predicatePath, `${JSON.stringify(result.statement.predicate, null, 2)}\n`);
    for (const m of result.manifests) {
      summary.row(
        m.platform ? `Platform ${m.platform}` : 'Attestation',
        `${m.attestation} (${m.signer.subject})`,
      );
    }
    summary.row('Builder', result.statement.predicate?.runDetails?.builder?.id);
    return { verified: true, 'predicate-path': predicatePath };
  },
};

export default action;
