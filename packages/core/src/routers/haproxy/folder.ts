import path from 'node:path';
import { UserError } from '../../errors/index.ts';
import { type AdminTransport, shellQuote } from '../admin-transport.ts';

/**
 * The folder of configuration files anew owns on the HAProxy machine
 * (router-config, loaded with -f beside the user's file). Reached with a
 * shell on that machine: here, or through the transport's ssh connection.
 * Every file is replaced whole by a rename, so HAProxy (re)starting at any
 * moment reads either the old file or the new one.
 */
export class ConfigFolder {
  constructor(
    readonly transport: AdminTransport,
    readonly dir: string,
  ) {
    if (!path.isAbsolute(dir) || /[\0\n]/.test(dir))
      throw new UserError(`router-config "${dir}" is not an absolute folder`, 'Use e.g. /etc/haproxy/anew.d');
  }

  private async sh(script: string, what: string): Promise<string> {
    const res = await this.transport.shell(`D=${shellQuote(this.dir)}; ${script}`).catch((e: Error) => {
      throw new UserError(
        `could not ${what} in ${this.dir} on the HAProxy machine (${e.message})`,
        'Check that ssh to that host works from here, as for docker-host',
      );
    });
    if (res.code !== 0)
      throw new UserError(
        `could not ${what} in ${this.dir} on the HAProxy machine (exit ${res.code}: ${res.stderr.trim().slice(0, 300)})`,
        'Check router-config, and that the ssh user may write there',
      );
    return res.stdout;
  }

  /** The files whose names start with `prefix`, by name. */
  async read(prefix: string): Promise<Map<string, string>> {
    const out = await this.sh(
      `[ -d "$D" ] || exit 0; for f in "$D"/${prefix}*.cfg; do [ -f "$f" ] || continue; printf '\\n@@anew-file %s\\n' "\${f##*/}"; cat "$f"; done`,
      'read the files',
    );
    const files = new Map<string, string>();
    const parts = out.split(/\n@@anew-file (\S+)\n/);
    for (let i = 1; i + 1 < parts.length; i += 2) files.set(parts[i]!, parts[i + 1]!);
    return files;
  }

  /** Writes (string) or removes (null) files, each atomically. */
  async write(changes: ReadonlyMap<string, string | null>): Promise<void> {
    const steps = ['mkdir -p "$D"'];
    for (const [name, content] of changes) {
      if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`bad file name ${name}`);
      if (content === null) steps.push(`rm -f "$D/${name}"`);
      else
        steps.push(
          `printf %s '${Buffer.from(content).toString('base64')}' | base64 -d >"$D/.${name}.tmp"`,
          `mv -f "$D/.${name}.tmp" "$D/${name}"`,
        );
    }
    await this.sh(`set -e; ${steps.join('; ')}`, 'write the files');
  }

  /**
   * Runs `fn` holding the folder's lock (mkdir is atomic): changes that
   * rewrite shared files (the frontends) and reload go one at a time.
   */
  async locked<T>(fn: () => Promise<T>): Promise<T> {
    await this.sh(
      'mkdir -p "$D"; i=0; until mkdir "$D/.anew-lock" 2>/dev/null; do i=$((i+1)); [ $i -ge 300 ] && { echo "$D/.anew-lock is held" >&2; exit 75; }; sleep 0.1; done',
      'take the lock (another change of the HAProxy configuration has held it for 30 s; if none runs, remove the .anew-lock folder)',
    );
    try {
      return await fn();
    } finally {
      await this.sh('rmdir "$D/.anew-lock"', 'release the lock');
    }
  }
}
