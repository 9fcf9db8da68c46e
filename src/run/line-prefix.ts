/** Copy a stream to another line by line, each line prefixed (`[my-service-1] …`). */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

/** Resolves when `input` ends. */
export function pipeWithPrefix(input: Readable, output: Writable, prefix: string): Promise<void> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  lines.on('line', (line) => { output.write(`${prefix}${line}\n`); });
  return new Promise((resolve) => lines.once('close', resolve));
}
