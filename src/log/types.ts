/** The logging interface (types only). */

export type Level = 'info' | 'warning' | 'error';

/**
 * Where diagnostics go. Implementations never throw and never block a reply:
 * when the sink is slow or gone, lines are dropped and counted.
 */
export interface Logger {
  log(level: Level, message: string): void;
  /** Flushes what can be flushed without waiting long; called at exit. */
  close(): void;
}
