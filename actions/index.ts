import { type ActionDefinition, runAction } from '@anew/action';

/**
 * Every action, loaded lazily: the shared bundle holds them all, and each
 * dist/<name>/index.cjs only names which one to run, so an action's start-up
 * evaluates its own modules and not the others'.
 */
// biome-ignore lint/suspicious/noExplicitAny: each action has its own input and output types
type Loader = () => Promise<{ default: ActionDefinition<any, any> }>;
export const actions: Record<string, Loader> = {
  ship: () => import('./ship/src/main.ts'),
  build: () => import('./build/src/main.ts'),
  attest: () => import('./attest/src/main.ts'),
  verify: () => import('./verify/src/main.ts'),
  deploy: () => import('./deploy/src/main.ts'),
  flip: () => import('./flip/src/main.ts'),
  rollback: () => import('./rollback/src/main.ts'),
  promote: () => import('./promote/src/main.ts'),
  cleanup: () => import('./cleanup/src/main.ts'),
};

export async function run(name: string): Promise<void> {
  const load = actions[name];
  if (!load) throw new Error(`unknown action ${name}`);
  await runAction((await load()).default);
}

/** The post step of an action that has one (actions/<name>/src/post.ts). */
const posts: Record<string, () => Promise<{ post: () => Promise<void> }>> = {
  deploy: () => import('./deploy/src/post.ts'),
  ship: () => import('./ship/src/post.ts'),
};

export async function post(name: string): Promise<void> {
  const load = posts[name];
  if (!load) throw new Error(`action ${name} has no post step`);
  await (await load()).post();
}
