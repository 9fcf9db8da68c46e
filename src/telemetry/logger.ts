/** Structured JSON logs (pino). The level comes from the config module, never from globals. */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  name?: string;
  destination?: DestinationStream;
  /**
   * Without a destination: write stdout synchronously (a sidecar's log is a few lines, and an
   * asynchronous sonic-boom sends each through libuv's thread pool, waking 4 threads for it).
   */
  sync?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = { level: options.level ?? 'info', ...(options.name === undefined ? {} : { name: options.name }) };
  const destination = options.destination ?? (options.sync === true ? pino.destination({ dest: 1, sync: true }) : undefined);
  return destination === undefined ? pino(base) : pino(base, destination);
}
