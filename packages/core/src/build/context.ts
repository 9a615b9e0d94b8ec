import fs from 'node:fs';
import path from 'node:path';
import { hashFile } from '../image/index.ts';

export interface ContextEntry {
  path: string;
  /** File type and permission bits as they are: a Dockerfile's COPY keeps them. */
  mode: number;
  sha256?: string;
  linkname?: string;
}

/**
 * Every file of a Dockerfile build's context, for the inputs-digest: paths,
 * modes, contents and link targets, sorted; the `.git` folder is left out
 * (it changes on every fetch without changing what is built). More than the
 * builder will use (.dockerignore is not applied) is on the safe side: it
 * can only cause a rebuild, never a wrong reuse.
 */
export function describeContext(root: string): ContextEntry[] {
  const out: ContextEntry[] = [];
  const chunk = Buffer.allocUnsafe(1 << 20);
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      if (rel === '' && name === '.git') continue;
      const abs = path.join(dir, name);
      const p = rel === '' ? name : `${rel}/${name}`;
      const st = fs.lstatSync(abs);
      if (st.isSymbolicLink()) out.push({ path: p, mode: st.mode, linkname: fs.readlinkSync(abs) });
      else if (st.isDirectory()) {
        out.push({ path: p, mode: st.mode });
        walk(abs, p);
      } else if (st.isFile()) out.push({ path: p, mode: st.mode, sha256: hashFile(abs, chunk).sha256 });
      else out.push({ path: p, mode: st.mode });
    }
  };
  walk(root, '');
  return out;
}
