import { type ActionDefinition, input, type Outputs } from '@anew/action';
import { parseDigest, parsePinnedReference } from '@anew/core/ref';
import attest from '../../attest/src/main.ts';
import build from '../../build/src/main.ts';
import deploy from '../../deploy/src/main.ts';
import flip from '../../flip/src/main.ts';

type InputsOf<A> = A extends ActionDefinition<infer I> ? I : never;

interface Inputs {
  build: InputsOf<typeof build>;
  attest?: InputsOf<typeof attest>;
  deploy: InputsOf<typeof deploy>;
  flip?: InputsOf<typeof flip>;
  startedOn: Date;
}

/** Stands for the digest build will produce, so every later step's inputs are checked before anything runs. */
const PENDING_DIGEST = `sha256:${'0'.repeat(64)}`;
const PENDING_TARGET = 'pending-target';

/**
 * build → attest → deploy → flip in one step. Each step is the action of the
 * same name, its inputs read as that action reads them (ship's inputs are
 * their union), all before the first side effect; then each runs with what
 * the one before produced.
 */
const action: ActionDefinition<Inputs> = {
  name: 'ship',
  readInputs() {
    const startedOn = new Date();
    const repo = input.repository('image');
    const pending = `${repo.name}@${PENDING_DIGEST}`;
    return {
      // In ship, "target" is the deploy driver; the Dockerfile stage is "build-target".
      build: input.withInputs({ target: input.str('build-target') }, () => build.readInputs()),
      attest: input.bool('attest', true)
        ? input.withInputs({ image: pending }, () => attest.readInputs())
        : undefined,
      deploy: input.withInputs({ image: pending }, () => deploy.readInputs()),
      flip: input.bool('flip', true)
        ? input.withInputs({ target: PENDING_TARGET }, () => flip.readInputs())
        : undefined,
      startedOn,
    };
  },
  async main(inputs, ctx) {
    const { log } = ctx;
    const outputs: Outputs = {};
    const built = await log.group('Build', () => build.main(inputs.build, ctx));
    Object.assign(outputs, built);
    const image = parsePinnedReference(String(built['image']));
    if (inputs.attest) {
      const a = await log.group('Attest', () =>
        attest.main(
          {
            ...inputs.attest!,
            image,
            inputsDigest: inputs.attest!.inputsDigest ?? parseDigest(String(built['inputs-digest'])),
            baseDigest:
              inputs.attest!.baseDigest ??
              (built['base-digest'] ? parseDigest(String(built['base-digest'])) : undefined),
            startedOn: inputs.startedOn,
          },
          ctx,
        ),
      );
      Object.assign(outputs, a);
    }
    const d = await log.group('Deploy', () => deploy.main({ ...inputs.deploy, image }, ctx));
    Object.assign(outputs, d);
    if (inputs.flip && !inputs.deploy['dry-run']) {
      const f = await log.group('Flip', () =>
        flip.main({ ...inputs.flip!, target: String(d['target']) }, ctx),
      );
      Object.assign(outputs, f);
    }
    ctx.summary.title = `anew/ship: ${image.name}@${image.digest.slice(7, 19)} → ${inputs.deploy.app}/${inputs.deploy.environment}`;
    return outputs;
  },
};

export default action;
