import { actionsLogger, getState } from '@anew/action';
import { DEFAULT_SETTINGS, type Settings } from '@anew/core/config';
import { errorMessage } from '@anew/core/errors';
import { SecretMasker } from '@anew/core/log';
import { removeUnflipped, withInfra } from '@anew/core/release';

/** The state key main saves under: what the post step needs, since inputs are not reliably there. */
export const POST_STATE = 'anew-deploy';

export interface PostState {
  app: string;
  environment: string;
  release: string;
  digest: string;
  target: string;
  /** The environment's settings as main resolved them, without the app's env values. */
  settings: Partial<Settings>;
}

/**
 * deploy's post step, run only when the job was cancelled (`post-if:
 * cancelled()`): the release this job started leaves nothing behind unless
 * a flip already sends it traffic or keeps it for rollback.
 */
export async function post(): Promise<void> {
  const log = actionsLogger(new SecretMasker());
  const raw = getState(POST_STATE);
  if (!raw) {
    log.info('anew/deploy (cancelled): this job started no release; nothing to remove');
    return;
  }
  try {
    const state = JSON.parse(raw) as PostState;
    const res = await withInfra({ ...DEFAULT_SETTINGS, ...state.settings }, log, (infra) =>
      removeUnflipped(infra, state),
    );
    if (res.reason) log.info(`anew/deploy (cancelled): ${res.reason}; left as it is`);
    else
      log.info(
        res.removed.length > 0
          ? `anew/deploy (cancelled): removed ${res.removed.length} target(s) of ${state.release}, which never took traffic`
          : `anew/deploy (cancelled): ${state.release} had started no target`,
      );
  } catch (e) {
    // A post step that cannot clean up says so; the cancelled job stays cancelled.
    log.warning(
      `anew/deploy (cancelled): the release this job started may be left behind (${errorMessage(e)}); anew/cleanup retires it`,
    );
  }
}
