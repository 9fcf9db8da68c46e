/**
 * The access log's destination: its own pino logger (no name, pid or host fields on every
 * line), writing asynchronously through sonic-boom so the data path never waits on a disk.
 * `stdout`, `stderr`, or a file path (appended to; the directory must exist).
 */
import { pino, type Logger } from 'pino';

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
    ...(target === 'stdout' || target === 'stderr' ? {} : { mkdir: false, append: true }),
  });
  const logger = pino({ base: undefined }, destination);
  return {
    logger,
    close() {
      try { destination.flushSync(); } catch { /* not open yet, or already closed */ }
      destination.end();
    },
  };
}
