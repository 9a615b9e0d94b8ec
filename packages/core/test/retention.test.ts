import { describe, expect, it } from 'vitest';
import type { Environment, Release } from '../src/release/index.ts';
import { retention } from '../src/release/index.ts';
import type { RouteState } from '../src/routers/index.ts';

const now = new Date('2026-12-01T12:00:00Z');

/** A release created `minutesAgo` before now, with one target in `state`. */
function release(id: string, minutesAgo: number, state = 'running'): Release {
  const created = new Date(now.getTime() - minutesAgo * 60_000).toISOString();
  return {
    release: id,
    target: `anew-web-production-${id}`,
    digest: `sha256:${'a'.repeat(64)}`,
    image: `127.0.0.1:5000/web@sha256:${'a'.repeat(64)}`,
    created,
    targets: [
      {
        name: `anew-web-production-${id}`,
        engine: '',
        address: '127.0.0.1:1',
        url: 'http://127.0.0.1:1',
        state,
        imageId: 'x',
        meta: {
          app: 'web',
          environment: 'production',
          image: '',
          digest: `sha256:${'a'.repeat(64)}`,
          release: id,
          created,
          healthPath: '/',
        },
      },
    ],
    traffic: 0,
  };
}

function env(releases: Release[], live: string[], history: string[]): Environment {
  const route: RouteState = {
    app: 'web',
    environment: 'production',
    hosts: [],
    listen: ':8080',
    backends: live.map((r, i) => ({ release: r, target: `t-${r}`, dials: [], weight: i === 0 ? 100 : 0 })),
    history,
    version: '1',
  };
  // Newest first, as readEnvironment lists them.
  return { app: 'web', environment: 'production', route, releases };
}

const ids = (rs: Release[]) => rs.map((r) => r.release).sort();

describe('retention (keep)', () => {
  it('never gives the rollback target’s slot to a release that was never flipped', () => {
    // r4 live, r3 deployed and killed before its flip (newer than r2), r2 served before r4.
    const e = env(
      [release('r4', 30), release('r3', 40), release('r2', 50), release('r1', 60)],
      ['r4'],
      ['r2', 'r1'],
    );
    const plan = retention(e, { keep: 1, now, youngerThan: 60_000 });
    expect(ids(plan.keep)).toEqual(['r2', 'r4']);
    expect(ids(plan.remove)).toEqual(['r1', 'r3']);
  });

  it('keeps the rollback target even with keep 0, and the live release always', () => {
    const e = env([release('r3', 30), release('r2', 40), release('r1', 50)], ['r3'], ['r2', 'r1']);
    const plan = retention(e, { keep: 0, now });
    expect(ids(plan.keep)).toEqual(['r2', 'r3']);
    expect(ids(plan.remove)).toEqual(['r1']);
  });

  it('mid-canary keeps the release the canary started from', () => {
    const e = env([release('r3', 30), release('r2', 40), release('r1', 50)], ['r2', 'r3'], ['r1']);
    const plan = retention(e, { keep: 0, now });
    expect(ids(plan.keep)).toEqual(['r2', 'r3']);
    expect(ids(plan.remove)).toEqual(['r1']);
  });

  it('leaves a release younger than its health timeout alone (a concurrent deploy)', () => {
    const e = env([release('r9', 0.5, 'running'), release('r3', 30), release('r2', 40)], ['r3'], ['r2']);
    const plan = retention(e, { keep: 0, now, youngerThan: 60_000 });
    expect(ids(plan.keep)).toEqual(['r2', 'r3', 'r9']);
    expect(plan.remove).toEqual([]);
    // Once older than the timeout, an unflipped release goes like any other.
    expect(ids(retention(e, { keep: 0, now, youngerThan: 10_000 }).remove)).toEqual(['r9']);
  });

  it('retires a stopped release in a keep slot and gives the slot to the next', () => {
    const e = env(
      [release('r4', 30), release('r3', 40, 'exited'), release('r2', 50), release('r1', 60)],
      ['r4'],
      [],
    );
    const plan = retention(e, { keep: 1, now });
    expect(ids(plan.keep)).toEqual(['r2', 'r4']);
    expect(ids(plan.remove)).toEqual(['r1', 'r3']);
  });
});
