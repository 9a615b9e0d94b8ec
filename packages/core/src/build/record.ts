import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors/index.ts';
import { type Digest, parseDigest } from '../ref/index.ts';

/**
 * What build leaves in the job for attest, for one digest: the
 * inputs-digest, the base's digest (when there is a base) and when the build
 * started and finished, as `<dir>/build-<hex>.json` (dir is $RUNNER_TEMP/anew
 * in a job). Written and read only here.
 */
export interface BuildRecord {
  inputsDigest?: Digest;
  baseDigest?: Digest;
  startedOn?: Date;
  finishedOn?: Date;
  /**
   * The image was found under the cache tag, not built in this run; `builtBy`
   * is the invocation id of the run that built it, when a cache policy
   * verified its provenance (unknown otherwise).
   */
  reused?: { builtBy?: string };
}

function recordFile(dir: string, digest: Digest): string {
  return path.join(dir, `build-${digest.slice(digest.indexOf(':') + 1)}.json`);
}

export function writeBuildRecord(dir: string, digest: Digest, r: BuildRecord): void {
  fs.mkdirSync(dir, { recursive: true });
  const body: Record<string, unknown> = {};
  if (r.inputsDigest) body['inputsDigest'] = r.inputsDigest;
  if (r.baseDigest) body['baseDigest'] = r.baseDigest;
  if (r.startedOn) body['startedOn'] = r.startedOn.toISOString();
  if (r.finishedOn) body['finishedOn'] = r.finishedOn.toISOString();
  if (r.reused) body['reused'] = r.reused.builtBy ? { builtBy: r.reused.builtBy } : {};
  fs.writeFileSync(recordFile(dir, digest), `${JSON.stringify(body)}\n`);
}

/** The record build left for this digest; empty when there is none (built elsewhere). */
export function readBuildRecord(dir: string, digest: Digest): BuildRecord {
  const file = recordFile(dir, digest);
  if (!fs.existsSync(file)) return {};
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw new UserError(
      `${file}, which build wrote for this digest, is not JSON`,
      'Run build again, or give inputs-digest and base-digest',
    );
  }
  const digestOf = (k: string) =>
    typeof json[k] === 'string' ? parseDigest(json[k], `${k} in ${file}`) : undefined;
  return {
    inputsDigest: digestOf('inputsDigest'),
    baseDigest: digestOf('baseDigest'),
    startedOn: time(json['startedOn'], `startedOn in ${file}`),
    finishedOn: time(json['finishedOn'], `finishedOn in ${file}`),
    reused: reusedOf(json['reused'], file),
  };
}

function reusedOf(value: unknown, file: string): BuildRecord['reused'] {
  if (value === undefined) return undefined;
  const builtBy = (value as { builtBy?: unknown } | null)?.builtBy;
  if (typeof value !== 'object' || value === null || (builtBy !== undefined && typeof builtBy !== 'string'))
    throw new UserError(
      `reused in ${file} is ${JSON.stringify(value)}, not {"builtBy"?: string}`,
      'Run build again',
    );
  return builtBy ? { builtBy } : {};
}

function time(value: unknown, what: string): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(String(value));
  if (Number.isNaN(d.getTime())) throw new UserError(`${what} is "${value}", not a time`);
  return d;
}
