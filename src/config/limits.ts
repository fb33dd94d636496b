/**
 * How big a pool may be. Config checks these; the state file's layout and
 * warm-up accounting are sized by them (state/layout.ts, balance/warmup.ts),
 * so they live here, below both.
 */

/** Transports in a pool: bounded so the state file's whole header fits one page. */
export const MAX_TRANSPORTS = 128;
/** Warm-up counts a pool may keep (one per warming transport and provider group; they share the state header's page). */
export const MAX_WARMUP_RECORDS = 16;
/** Stages a warm-up schedule may list. */
export const MAX_STAGES = 64;
/** A config file larger than this is refused (nobody balances over a megabyte of transports); the last good copy is sized by it. */
export const MAX_CONFIG_BYTES = 1 << 20;
