import { type ActionDefinition, type InputReader, type Outputs, omitInputs } from '@anew/action';
import { parsePinnedReference, shortDigest } from '@anew/core/ref';
import attest, { type AttestInputs, parseRest as parseAttest } from '../../attest/src/main.ts';
import build, { type BuildInputs, parse as parseBuild, plan as planBuild } from '../../build/src/main.ts';
import deploy, { type DeployInputs, parseRest as parseDeploy } from '../../deploy/src/main.ts';
import flip, { type FlipInputs, parseRest as parseFlip } from '../../flip/src/main.ts';
import { spec } from './spec.ts';

/** Each step's inputs, typed, without what the step before produces (the image, the target). */
interface Inputs {
  build: BuildInputs;
  attest?: Omit<AttestInputs, 'image'>;
  deploy: Omit<DeployInputs, 'image'>;
  flip?: Omit<FlipInputs, 'target'>;
  dryRun: boolean;
  startedOn: Date;
}

/**
 * Every step's inputs read as that action reads them (ship's inputs are their
 * union), all checked before the first side effect.
 */
function parse(r: InputReader): Inputs {
  const startedOn = new Date();
  const dryRun = r.bool('dry-run');
  return {
    // The app's environment ("env") is deploy's; the image's own is set in a Dockerfile or by build.
    build: parseBuild(r.view(build.inputs, { target: 'build-target' }, ['env'])),
    // A dry run signs nothing: a keyless signature is a permanent transparency-log entry.
    attest: r.bool('attest') && !dryRun ? parseAttest(r.view(omitInputs(attest.inputs, 'image'))) : undefined,
    deploy: parseDeploy(r.view(omitInputs(deploy.inputs, 'image'))),
    flip: r.bool('flip') ? parseFlip(r.view(omitInputs(flip.inputs, 'target'))) : undefined,
    dryRun,
    startedOn,
  };
}

/**
 * build → attest → deploy → flip in one step: each step is the action of the
 * same name, run with the typed outputs of the one before.
 */
const action: ActionDefinition<Inputs, Outputs> = {
  ...spec,
  parse,
  async main(inputs, ctx) {
    const { log, summary } = ctx;
    const where = `${inputs.deploy.app}/${inputs.deploy.environment}`;
    if (inputs.dryRun) {
      const plan = await log.group('Build (plan)', () => planBuild(inputs.build, ctx));
      summary.title = `anew/ship: plan (dry run) → ${where}`;
      summary.row('Inputs digest', plan.inputsDigest).row('Image', plan.cached?.image ?? 'to be built');
      if (!plan.cached) {
        summary.note(
          'Nothing was built, pushed or signed; deploy and flip are planned once the image exists.',
        );
        return { 'inputs-digest': plan.inputsDigest };
      }
      const image = parsePinnedReference(plan.cached.image);
      const d = await log.group('Deploy (plan)', () => deploy.main({ ...inputs.deploy, image }, ctx));
      return { 'inputs-digest': plan.inputsDigest, image, digest: image.digest, 'cache-hit': true, ...d };
    }
    const built = await log.group('Build', () => build.main(inputs.build, ctx));
    const { image } = built;
    let attested: Outputs = {};
    if (inputs.attest) {
      const a = inputs.attest;
      attested = await log.group('Attest', () =>
        attest.main(
          {
            ...a,
            image,
            inputsDigest: a.inputsDigest ?? built['inputs-digest'],
            baseDigest: a.baseDigest ?? built['base-digest'],
            startedOn: inputs.startedOn,
          },
          ctx,
        ),
      );
    }
    const d = await log.group('Deploy', () => deploy.main({ ...inputs.deploy, image }, ctx));
    const f = inputs.flip
      ? await log.group('Flip', () => flip.main({ ...inputs.flip!, target: d.target }, ctx))
      : {};
    summary.title = `anew/ship: ${image.name}@${shortDigest(image.digest)} → ${where}`;
    return { ...built, ...attested, ...d, ...f };
  },
};

export default action;
