/**
 * The access log's destination: its own pino logger (no name, pid or host fields on every
 * line), writing asynchronously through sonic-boom so the data path never waits on a disk.
 * `stdout`, `stderr`, or a file path (appended to; the directory must exist). Lines are
 * buffered up to 4 KiB and written together (one write for a dozen lines instead of one
 * each: at thousands of requests a second the syscalls were most of the log's cost), and
 * flushed at least every FLUSH_INTERVAL_MS so a quiet sidecar's lines still appear promptly.
 */
import { pino, type Logger } from 'pino';

const BUFFER_BYTES = 4_096;
const FLUSH_INTERVAL_MS = 250;

export type AccessLogTarget = 'off' | 'stdout' | 'stderr' | string;

export interface AccessLog {
  readonly logger: Logger;
  /** Write what is buffered and close the file. */
  close(): void;
}

export function openAccessLog(target: Exclude<AccessLogTarget, 'off'>): AccessLog {
  const destination = pino.destination({
    dest: target === 'stdout' ? 1 : target === 'stderr' ? 2 : target,
    sync: false,
    minLength: BUFFER_BYTES,
    ...(target === 'stdout' || target === 'stderr' ? {} : { mkdir: false, append: true }),
  });
  const logger = pino({ base: undefined }, destination);
  const flusher = setInterval(() => {
    try { destination.flush(); } catch { /* not open yet */ }
  }, FLUSH_INTERVAL_MS);
  flusher.unref();
  return {
    logger,
    close() {
      clearInterval(flusher);
      try { destination.flushSync(); } catch { /* not open yet, or already closed */ }
      destination.end();
    },
  };
}
