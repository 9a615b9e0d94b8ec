import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { type ActionDefinition, input } from '@anew/action';
import { readVerifyPolicy } from '@anew/action/policy';
import { type VerifyPolicy, verifyImage } from '@anew/core/provenance';
import { type Digest, type Reference, shortDigest } from '@anew/core/ref';
import { type Credential, RegistryClient } from '@anew/core/registry';

interface Inputs {
  image: Reference & { digest: Digest };
  policy: VerifyPolicy;
  credential?: Credential;
}

function readInputs(): Inputs {
  const image = input.pinnedImage('image');
  const policy = readVerifyPolicy();
  const credential = input.credential('registry-username', 'registry-password');
  // verify reads neither anew.yml nor the GitHub API; both inputs are declared by every action.
  input.str('config');
  input.secret('github-token');
  return { image, policy, credential };
}

const action: ActionDefinition<Inputs> = {
  name: 'verify',
  readInputs,
  async main({ image, policy, credential }, { log, summary }) {
    summary.title = `anew/verify: ${image.name}@${shortDigest(image.digest)}`;
    summary.row('Image', image.toString()).row('Predicate type', policy.predicateType);
    const client = new RegistryClient({
      log,
      credentials: credential ? { [image.registry]: credential } : undefined,
    });
    const tmp = process.env['RUNNER_TEMP'] || '/tmp';
    const result = await verifyImage(client, image, policy, log, { cacheDir: tmp }).catch((e: unknown) => {
      // For steps with continue-on-error: the refusal is also an output.
      core.setOutput('verified', 'false');
      throw e;
    });
    const dir = path.join(tmp, 'anew');
    fs.mkdirSync(dir, { recursive: true });
    const predicatePath = path.join(
      dir,
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
