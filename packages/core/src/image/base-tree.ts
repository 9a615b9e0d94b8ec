import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { UserError } from '../errors/index.ts';
import type { Reference } from '../ref/index.ts';
import type { Descriptor, RegistryClient } from '../registry/index.ts';
import { type TarEntry, TarHeaderReader } from './tar-read.ts';

/**
 * What a base image's filesystem holds, path by path: its layers applied in
 * order, whiteouts included, as a runtime would unpack them. Only headers are
 * kept (type, mode, owner, mtime, link target), never content; the layer
 * writer needs them to leave the base's directories and symlinks as they are.
 */
export type BaseTree = Map<string, TarEntry>;

export async function readBaseTree(
  client: RegistryClient,
  repo: Reference,
  layers: readonly Descriptor[],
): Promise<BaseTree> {
  const tree: BaseTree = new Map();
  // Streamed, one layer at a time: only headers are kept, so memory does not grow with the base.
  for (const d of layers) {
    const entries: TarEntry[] = [];
    await untar(client.readBlob(repo, d.digest, d.size), d, (e) => entries.push(e));
    applyLayer(tree, entries);
  }
  return tree;
}

async function untar(
  pieces: AsyncIterable<Buffer>,
  d: Descriptor,
  onEntry: (e: TarEntry) => void,
): Promise<void> {
  const reader = new TarHeaderReader(onEntry);
  const it = pieces[Symbol.asyncIterator]();
  const head = await it.next();
  if (head.done) return;
  const all = (async function* () {
    yield head.value;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  })();
  const stream = decompressor(head.value.subarray(0, 4).toString('hex'), d);
  if (!stream) {
    for await (const piece of all) reader.push(piece);
    return;
  }
  // A pipeline: backpressure from the decompressor, and its errors (a corrupt layer) fail the read.
  await pipeline(Readable.from(all), stream, async (out: AsyncIterable<Buffer>) => {
    for await (const c of out) reader.push(c);
  });
}

/** The decompressor a layer's first bytes call for; undefined for a plain tar. */
function decompressor(magic: string, d: Descriptor): zlib.Gunzip | undefined {
  if (magic.startsWith('1f8b')) return zlib.createGunzip();
  if (magic !== '28b52ffd') return undefined;
  // biome-ignore lint/suspicious/noExplicitAny: zstd is in Node's zlib from 22.15 on, not in the types of 20
  const createZstd = (zlib as any).createZstdDecompress as (() => zlib.Gunzip) | undefined;
  if (!createZstd)
    throw new UserError(
      `the base layer ${d.digest} is compressed with zstd, which this Node.js (${process.version}) cannot read`,
      'Use a base with gzip layers, or run on Node.js 22.15 or later',
    );
  return createZstd();
}

function dropBelow(tree: BaseTree, dir: string): void {
  const prefix = dir === '' ? '' : `${dir}/`;
  for (const p of tree.keys()) if (p.startsWith(prefix) && p !== dir) tree.delete(p);
}

/** One layer on top of the tree: its whiteouts first (they act on the layers below only), then its entries. */
export function applyLayer(tree: BaseTree, entries: readonly TarEntry[]): void {
  const adds: TarEntry[] = [];
  for (const e of entries) {
    const slash = e.path.lastIndexOf('/');
    const dir = slash < 0 ? '' : e.path.slice(0, slash);
    const name = e.path.slice(slash + 1);
    if (name === '.wh..wh..opq') dropBelow(tree, dir);
    else if (name.startsWith('.wh.')) {
      const gone = dir === '' ? name.slice(4) : `${dir}/${name.slice(4)}`;
      tree.delete(gone);
      dropBelow(tree, gone);
    } else if (e.path !== '') adds.push(e);
  }
  for (const e of adds) {
    // A non-directory replacing a directory takes its contents with it.
    if (e.type !== '5' && tree.get(e.path)?.type === '5') dropBelow(tree, e.path);
    tree.set(e.path, e);
  }
}
