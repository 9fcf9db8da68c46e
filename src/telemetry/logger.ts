/** Structured JSON logs (pino). The level comes from the config module, never from globals. */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  name?: string;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = { level: options.level ?? 'info', ...(options.name === undefined ? {} : { name: options.name }) };
  return options.destination === undefined ? pino(base) : pino(base, options.destination);
}
