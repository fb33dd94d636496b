/**
 * Monotonic milliseconds, for deadlines and rate limits that a clock set
 * backwards must not break. process.hrtime instead of performance.now():
 * the `performance` global loads perf_hooks and ten internal modules, ~1 ms
 * of start-up that Postfix waits for on every new connection.
 */
export function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1000 + ns / 1e6;
}
