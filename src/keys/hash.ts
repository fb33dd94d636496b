/**
 * Stable, fast string hashing shared by every process that reads one state
 * file; the results are stored on disk, so they must never change.
 */

/**
 * A 53-bit hash of a string (cyrb53 by bryc, public domain): `hi` is 21 bits
 * and never 0 (an all-zero memo slot means empty), `lo` 32 bits. Returned as
 * one number, hi * 2^32 + lo, so hashing a burst allocates no objects.
 */
export function hashKey(key: string): number {
  const { hi, lo } = hashKeyParts(key);
  return hi * 0x1_0000_0000 + lo;
}

/** The two halves of a packed hash. */
export function hashHi(hash: number): number {
  return Math.floor(hash / 0x1_0000_0000);
}

export function hashLo(hash: number): number {
  return hash >>> 0;
}

function hashKeyParts(key: string): { hi: number; lo: number } {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return { hi: ((h2 & 0x1fffff) | 0x200000) >>> 0, lo: h1 >>> 0 };
}

/** Fingerprint of a pool: its reply values and weights, in order. */
export function fingerprintPool(transports: readonly { value: string; weight: number }[]): number {
  const { hi, lo } = hashKeyParts(transports.map((t) => `${t.weight}\u0000${t.value}`).join('\u0001'));
  return (hi ^ lo) >>> 0;
}
