import { LineFramer } from '../protocol/line-framer.js';

/**
 * Reads `input` a line at a time until it ends (or fails), through the same
 * bounded framer as the lookups: a line longer than `maxBytes` is dropped,
 * never buffered. Lines are byte strings (latin1).
 */
export function readLines(input: NodeJS.ReadableStream, maxBytes: number, onLine: (line: string) => void): Promise<void> {
  const framer = new LineFramer(maxBytes);
  return new Promise<void>((resolve) => {
    input.on('data', (chunk: Buffer) => {
      for (const f of framer.feed(chunk)) if (typeof f === 'string') onLine(f);
    });
    input.on('end', () => {
      for (const f of framer.end()) if (typeof f === 'string') onLine(f);
      resolve();
    });
    input.on('error', () => resolve());
  });
}
