/**
 * The access log's destination: pino's asynchronous file destination (sonic-boom) in
 * buffer mode, fed whole chunks. Each line is encoded at once into a 64 KiB chunk (so the
 * line's string dies young); a full chunk — or, every FLUSH_INTERVAL_MS, a partial one — is
 * handed to sonic-boom, which writes it without copying or re-encoding. `stdout`, `stderr`,
 * or a file path (appended to; the directory must exist).
 *
 * Why not sonic-boom's own string buffering (what `pino.destination({ minLength })` gives):
 * its `write()` measures the UTF-8 length of the whole pending buffer on every line
 * (flattening the concatenated string each time), and the pending lines, kept for up to the
 * flush interval, outlive young-generation collections and are promoted — profiled at
 * 5–8 µs of CPU per line and old-generation collections under load, where this costs under
 * 1 µs (docs/observability.md, "Cost").
 */
import { pino } from 'pino';

const CHUNK_BYTES = 65_536;
/** Longest a UTF-8 encoding can be per UTF-16 code unit. */
const MAX_BYTES_PER_UNIT = 3;
const FLUSH_INTERVAL_MS = 250;
const NEWLINE = 0x0a;
/** encodeInto: measured faster than Buffer#write for the access log's lines (concatenated strings). */
const utf8 = new TextEncoder();

export type AccessLogTarget = 'off' | 'stdout' | 'stderr' | string;

export interface AccessLog {
  /** Append one line (the newline is added here). */
  write(line: string): void;
  /** Write what is buffered and close the file. */
  close(): void;
}

/** sonic-boom in buffer mode takes Buffers; pino's typings declare its string-mode write only. */
interface BufferDestination {
  write(chunk: Buffer): boolean;
  flushSync(): void;
  end(): void;
}

export function openAccessLog(target: Exclude<AccessLogTarget, 'off'>): AccessLog {
  const destination = pino.destination({
    dest: target === 'stdout' ? 1 : target === 'stderr' ? 2 : target,
    sync: false,
    contentMode: 'buffer',
    ...(target === 'stdout' || target === 'stderr' ? {} : { mkdir: false, append: true }),
  }) as unknown as BufferDestination;
  let chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let used = 0;
  const flush = (): void => {
    if (used === 0) return;
    destination.write(chunk.subarray(0, used));
    chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    used = 0;
  };
  const flusher = setInterval(flush, FLUSH_INTERVAL_MS);
  flusher.unref();
  return {
    write(line) {
      const worst = line.length * MAX_BYTES_PER_UNIT + 1;
      if (used + worst > CHUNK_BYTES) flush();
      if (worst > CHUNK_BYTES) {
        destination.write(Buffer.from(`${line}\n`));
        return;
      }
      used += utf8.encodeInto(line, chunk.subarray(used)).written;
      chunk[used++] = NEWLINE;
    },
    close() {
      clearInterval(flusher);
      flush();
      try { destination.flushSync(); } catch { /* not open yet, or already closed */ }
      destination.end();
    },
  };
}
