import type { Backend } from '../index.ts';

/**
 * Weighted upstreams without a weighted policy. Caddy 2.8 has
 * weighted_round_robin; Caddy 2.6 (Debian's) has not. Round robin over a list
 * where each dial appears in proportion to its share gives the same split,
 * exactly over every full cycle of the list: 10/90 becomes 1 entry and 9.
 * A release on several hosts splits its share between its dials.
 */
export function expandWeights(backends: readonly Backend[]): string[] {
  const live = backends.filter((b) => b.weight > 0 && b.dials.length > 0);
  if (live.length === 0) return [];
  const hostsLcm = live.reduce((l, b) => lcm(l, b.dials.length), 1);
  const perDial = live.map((b) => (b.weight * hostsLcm) / b.dials.length);
  const g = perDial.reduce((x, y) => gcd(x, y));
  const lists = live.map((b, i) => b.dials.map((d) => ({ dial: d, count: perDial[i]! / g })));
  // Interleave, so a short window of requests already sees the proportions (smooth round robin).
  const entries = lists.flat();
  const total = entries.reduce((n, e) => n + e.count, 0);
  const current = entries.map(() => 0);
  const out: string[] = [];
  for (let n = 0; n < total; n++) {
    let best = 0;
    for (let i = 0; i < entries.length; i++) {
      current[i]! += entries[i]!.count;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    out.push(entries[best]!.dial);
  }
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function lcm(a: number, b: number): number {
  return (a * b) / gcd(a, b);
}
