import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assembleImage, describeEntries, hashFile, parseFileMappings, planImage } from '@anew/core/image';
import { MemoryLogger } from '@anew/core/log';
import { parseReference } from '@anew/core/ref';
import { RegistryClient } from '@anew/core/registry';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../../test/helpers/fault-proxy.ts';
import { services } from '../../../test/helpers/services.ts';

/**
 * A layer with more than 8 MiB of content goes to the registry while it is
 * compressed. The bytes the registry keeps are the layer's, whether the
 * streamed upload succeeds or fails half way (then the written file is
 * uploaded the ordinary way), and the image is the same either way.
 */
let proxy: FaultProxy;
let context: string;
const temps: string[] = [];
beforeAll(async () => {
  proxy = await new FaultProxy(services.registry).start();
  context = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-stream-'));
  temps.push(context);
  fs.mkdirSync(path.join(context, 'data'));
  // 36 MiB that hardly compress: five 8 MiB chunks of the streamed upload, and enough to be
  // hashed on worker threads (describeEntries), which the layer writer checks byte for byte.
  for (let i = 0; i < 9; i++) fs.writeFileSync(path.join(context, 'data', `f${i}`), randomBytes(4 << 20));
});
afterAll(async () => {
  await proxy?.stop();
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
});
beforeEach(() => {
  proxy.rule = () => undefined;
  proxy.log.length = 0;
});

async function build(name: string) {
  const client = new RegistryClient({ retry: { attempts: 3, minDelayMs: 5, maxDelayMs: 20 } });
  const log = new MemoryLogger();
  const repo = parseReference(`${proxy.host}/anew-stream/${name}-${Date.now().toString(36)}`);
  const plan = await planImage(
    client,
    {
      repo,
      context,
      files: parseFileMappings(['data/:/data/']),
      settings: { env: {}, labels: {} },
      epoch: 0,
    },
    log,
  );
  const described = await describeEntries(plan.entries);
  for (const d of described.filter((x) => x.type === 'file'))
    expect(d.sha256).toBe(hashFile(path.join(context, 'data', path.basename(d.path))).sha256);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-stream-tmp-'));
  temps.push(tmp);
  const built = await assembleImage(client, plan, tmp, log);
  const stored = await client.getBlob(repo, built.layer.digest, built.layer.size);
  return { built, log, stored };
}

describe('a large layer uploaded while it is compressed', () => {
  it('sends it in PATCH chunks during compression and commits it under its digest', async () => {
    const { built, log, stored } = await build('ok');
    expect(log.lines.join('\n')).toContain(`Uploaded ${built.layer.digest} while compressing it`);
    expect(`sha256:${createHash('sha256').update(stored).digest('hex')}`).toBe(built.layer.digest);
    expect(proxy.count('PATCH', '/blobs/uploads/')).toBeGreaterThanOrEqual(5);
    // One session only: the file was not uploaded a second time.
    expect(proxy.count('POST', '/blobs/uploads/')).toBe(2); // the layer's stream and the config
  });

  it('falls back to uploading the written file when the stream breaks, with the same image', async () => {
    const first = await build('again');
    proxy.log.length = 0;
    proxy.rule = ({ method, n }) =>
      method === 'PATCH' && n === 2 ? { kind: 'status', status: 500 } : undefined;
    const { built, log, stored } = await build('broken');
    expect(built.digest).toBe(first.built.digest);
    expect(log.lines.join('\n')).not.toContain('while compressing it');
    expect(`sha256:${createHash('sha256').update(stored).digest('hex')}`).toBe(built.layer.digest);
  });
});
