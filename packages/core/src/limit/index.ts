/**
 * A limiter: runs the functions given to it at most `n` at a time, the others
 * in the order they came.
 */
export function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    // A finished call hands its place to the next in line, so no newcomer slips in between.
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    else active++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

/** `p`, marked as handled: work started now and awaited later, whose failure is thrown where it is awaited. */
export function started<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
