import type { SettingKey, Settings } from '../config/index.ts';
import { UserError } from '../errors/index.ts';
import { primary } from '../routers/index.ts';
import { type SwitchResult, settingsFollowingRoute, switchTo } from './flip.ts';
import type { Infra } from './infra.ts';
import { findRelease, readEnvironment } from './model.ts';

/**
 * Moves traffic back to the release that served before (the route remembers
 * it), or to the one `to` names: a router change only, onto a target that is
 * still warm. When that target is gone, it says so and changes nothing.
 */
export async function rollback(
  infra: Infra,
  req: {
    app: string;
    environment: string;
    to?: string;
    settings: Settings;
    /** As in flip: the settings given explicitly; listen and hosts otherwise come from the route. */
    given?: ReadonlySet<SettingKey>;
    dryRun: boolean;
  },
): Promise<SwitchResult> {
  const env = await readEnvironment(infra, req.app, req.environment);
  if (!env.route || env.route.backends.length === 0)
    throw new UserError(
      `${req.app}/${req.environment} has no route yet`,
      'Flip a release first; there is nothing to roll back',
    );
  const live = primary(env.route)!;
  // Mid-canary (a flip was stopped between steps), back means all traffic on the release
  // the canary started from: flip writes it first.
  const canaryFrom = env.route.backends.length > 1 ? env.route.backends[0]!.release : undefined;
  const wanted = req.to ?? canaryFrom ?? env.route.history[0];
  if (!wanted)
    throw new UserError(
      `${req.app}/${req.environment} has no previous release to roll back to`,
      'Only one release has ever served here',
    );
  const back = findRelease(env, wanted);
  if (!back || back.targets.length === 0)
    throw new UserError(
      `release ${wanted} of ${req.app}/${req.environment} has no target any more (it was cleaned up); nothing was changed, ${live.release} still serves`,
      req.to
        ? 'Name a release that is still warm (see status), or deploy that digest again'
        : 'Deploy the previous digest again, or name a warm release with "to"',
    );
  const settings = settingsFollowingRoute(req.settings, env.route, req.given);
  return switchTo(infra, env, back, settings, req.dryRun, false);
}
