import { UserError } from '../../errors/index.ts';
import type { Exec } from '../../exec/index.ts';

/**
 * The address other machines (the router, the health check) use to reach a
 * container that shares its engine's network (`network: host`): the host
 * of DOCKER_HOST. For ssh:// it is the host name ssh really connects to, so
 * an alias from ~/.ssh/config works as it does for the docker CLI.
 */
export function engineHostName(dockerHost: string): string | { sshAlias: string } {
  if (dockerHost === '' || dockerHost.startsWith('unix://') || dockerHost.startsWith('npipe://'))
    return '127.0.0.1';
  let url: URL;
  try {
    url = new URL(dockerHost);
  } catch {
    throw new UserError(
      `docker host "${dockerHost}" is not a URL`,
      'Use unix:///var/run/docker.sock, tcp://host:2376 or ssh://user@host',
    );
  }
  if (url.protocol === 'ssh:') return { sshAlias: url.hostname };
  if (url.protocol === 'tcp:' || url.protocol === 'http:' || url.protocol === 'https:')
    return url.hostname.replace(/^\[|\]$/g, '');
  throw new UserError(
    `docker host "${dockerHost}" uses ${url.protocol}, which anew does not know`,
    'Use unix://, tcp:// or ssh://',
  );
}

/** `ssh -G` prints the configuration ssh would use; its `hostname` line resolves aliases. */
export async function resolveSshHostName(exec: Exec, alias: string): Promise<string> {
  const res = await exec.run('ssh', ['-G', alias], { quiet: true, ignoreReturnCode: true });
  const line = res.stdout.split('\n').find((l) => l.startsWith('hostname '));
  return line ? line.slice('hostname '.length).trim() : alias;
}
