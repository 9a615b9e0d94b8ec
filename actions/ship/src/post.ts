// ship deploys with deploy's code, and saves the same state for the same post step.
export { post } from '../../deploy/src/post.ts';
