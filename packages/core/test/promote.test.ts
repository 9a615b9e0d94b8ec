import { randomBytes } from 'node:crypto';
import { UserError } from '@anew/core/errors';
import { MemoryLogger } from '@anew/core/log';
import { promoteImage } from '@anew/core/promote';
import { type Digest, parseReference, type Reference } from '@anew/core/ref';
import { EMPTY_DESCRIPTOR, EMPTY_JSON, MediaType, RegistryClient } from '@anew/core/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningService, services, startRegistry } from '../../../test/helpers/services.ts';

const unique = () => `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

/** A real client that also notes every blob it asks a registry about (HEAD), by registry. */
class CountingClient extends RegistryClient {
  readonly heads: string[] = [];
  override blobExists(repo: Reference, digest: Digest): Promise<boolean> {
    this.heads.push(`${repo.registry} ${digest}`);
    return super.blobExists(repo, digest);
  }
}

/** An image of a config and two layers, with `notes` referrers (artifacts with a blob of their own each). */
async function pushImage(client: RegistryClient, repo: Reference, notes = 1) {
  const layers = [];
  for (const size of [300_000, 5_000]) {
    const p = await client.pushBlob(repo, randomBytes(size));
    layers.push({ mediaType: MediaType.ociLayer, digest: p.digest, size: p.size });
  }
  const config = await client.pushBlob(repo, Buffer.from('{"architecture":"amd64","os":"linux"}'));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
      layers,
    }),
  );
  const digest = await client.putManifest(repo, manifest, MediaType.ociManifest);
  await client.pushBlob(repo, EMPTY_JSON);
  const referrers: Digest[] = [];
  for (let i = 0; i < notes; i++) {
    const note = await client.pushBlob(repo, Buffer.from(`a signed note ${unique()}`));
    const referrer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        artifactType: 'application/vnd.example.note',
        config: EMPTY_DESCRIPTOR,
        layers: [{ mediaType: 'application/vnd.example.note', digest: note.digest, size: note.size }],
        subject: { mediaType: MediaType.ociManifest, digest, size: manifest.length },
      }),
    );
    referrers.push(await client.pushReferrer(repo, referrer, MediaType.ociManifest));
  }
  // config, two layers, the empty config of the referrers and each one's note
  return {
    from: repo.withDigest(digest) as Reference & { digest: Digest },
    referrerDigest: referrers[0],
    referrers,
    blobs: 4 + notes,
  };
}

async function catalog(host: string): Promise<string[]> {
  const res = await fetch(`http://${host}/v2/_catalog`);
  return ((await res.json()) as { repositories: string[] }).repositories;
}

describe('promoteImage: the policy gate beside the reads', () => {
  let dest: RunningService;
  beforeAll(async () => {
    dest = await startRegistry();
  });
  afterAll(async () => {
    await dest?.stop();
  });

  it('reads the source and the destination while the gate runs, and writes nothing when it refuses', async () => {
    const client = new CountingClient();
    const img = await pushImage(client, parseReference(`${services.registry}/anew-test/${unique()}`));
    client.heads.length = 0;
    let headsDuringGate = 0;
    let catalogDuringGate: string[] | undefined;
    const gate = async () => {
      // The reads go on beside the gate: wait until every blob was asked about at the destination.
      for (let i = 0; i < 250 && client.heads.length < img.blobs; i++)
        await new Promise((r) => setTimeout(r, 20));
      headsDuringGate = client.heads.filter((h) => h.startsWith(`${dest.host} `)).length;
      catalogDuringGate = await catalog(dest.host);
      throw new UserError('no attestation satisfies the policy');
    };
    const to = parseReference(`${dest.host}/prod/${unique()}`);
    await expect(
      promoteImage(client, { from: img.from, to, tags: ['v1'], gate }, new MemoryLogger()),
    ).rejects.toThrow('no attestation satisfies the policy');
    expect(headsDuringGate).toBe(img.blobs);
    expect(catalogDuringGate).toEqual([]);
    // Nor afterwards: the refusal stops everything before the first write.
    await new Promise((r) => setTimeout(r, 200));
    expect(await catalog(dest.host)).toEqual([]);
  });

  it('after the gate, copies each blob without asking the destination again, then the referrer and the tag', async () => {
    const client = new CountingClient();
    const img = await pushImage(client, parseReference(`${services.registry}/anew-test/${unique()}`));
    client.heads.length = 0;
    let gatePassed = false;
    const log = new MemoryLogger();
    const to = parseReference(`${dest.host}/prod/${unique()}`);
    const result = await promoteImage(
      client,
      {
        from: img.from,
        to,
        tags: ['v1'],
        gate: async () => {
          await new Promise((r) => setTimeout(r, 50));
          gatePassed = true;
        },
      },
      log,
    );
    expect(gatePassed).toBe(true);
    expect(result.copied.count).toBe(img.blobs);
    expect(result.referrers).toBe(1);
    // One HEAD per blob, asked during the gate; the copies use its answer.
    expect(client.heads.filter((h) => h.startsWith(`${dest.host} `))).toHaveLength(img.blobs);
    expect((await client.referrers(to, img.from.digest)).map((d) => d.digest)).toEqual([img.referrerDigest]);
    expect((await client.resolve(to.withTag('v1')))?.digest).toBe(img.from.digest);
    expect(log.text()).toMatch(
      /promote timings: start-up \d+ ms, verification \d+ ms, reads \d+ ms \(beside it\), image copied \d+ ms, referrers recorded \d+ ms \(beside it\), tags \d+ ms/,
    );
  });

  it("records a subject's referrers together: one tag-index write and one confirmation for all of them", async () => {
    const client = new RegistryClient();
    const img = await pushImage(client, parseReference(`${services.registry}/anew-test/${unique()}`), 3);
    const log = new MemoryLogger();
    const to = parseReference(`${dest.host}/prod/${unique()}`);
    const result = await promoteImage(
      new RegistryClient({ log }),
      { from: img.from, to, tags: [], gate: async () => {} },
      log,
    );
    expect(result.referrers).toBe(3);
    expect((await client.referrers(to, img.from.digest)).map((d) => d.digest).sort()).toEqual(
      [...img.referrers].sort(),
    );
    // The tag index's own debug line, once, naming all three, after a single write.
    const records = log.lines.filter((l) => l.includes('pushReferrer:') && l.includes(' recorded in '));
    expect(records).toHaveLength(1);
    for (const d of img.referrers) expect(records[0]).toContain(d);
    expect(records[0]).toContain('(1 writes;');
  });
});
