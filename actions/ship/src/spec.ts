import type { ActionSpec, InputSpecs } from '@anew/action';
import { spec as attest } from '../../attest/src/spec.ts';
import { spec as build } from '../../build/src/spec.ts';
import { spec as deploy } from '../../deploy/src/spec.ts';
import { spec as flip } from '../../flip/src/spec.ts';

/** Build's inputs as ship declares them: its Dockerfile stage is "build-target" ("target" is deploy's output). */
const buildInputs: InputSpecs = Object.fromEntries(
  Object.entries(build.inputs).map(([k, v]) => (k === 'target' ? ['build-target', v] : [k, v])),
);

/** The union of its steps' inputs and outputs; where two steps share a key, the later step's declaration. */
export const spec = {
  name: 'ship',
  // A release started by a cancelled job is removed unless it already takes traffic.
  postIf: 'cancelled()',
  description: 'Build, attest, deploy and flip in one step.',
  inputs: {
    ...buildInputs,
    image: { ...build.inputs.image, description: 'Repository to build and push to (e.g. ghcr.io/acme/web).' },
    ...Object.fromEntries(Object.entries(attest.inputs).filter(([k]) => k !== 'image')),
    ...Object.fromEntries(Object.entries(deploy.inputs).filter(([k]) => k !== 'image')),
    ...Object.fromEntries(Object.entries(flip.inputs).filter(([k]) => k !== 'target')),
    'dry-run': {
      description:
        'Plan and change nothing anywhere: the build is planned (nothing pushed), attest is skipped, deploy prints its plan when the image already exists.',
      default: 'false',
      boolean: true,
      group: 'General',
    },
    attest: {
      description: 'Attest the image before deploying.',
      default: 'true',
      boolean: true,
      group: 'General',
    },
    flip: {
      description: 'Move traffic once the new target is healthy.',
      default: 'true',
      boolean: true,
      group: 'General',
    },
  },
  outputs: { ...build.outputs, ...attest.outputs, ...deploy.outputs, ...flip.outputs },
} as const satisfies ActionSpec;
