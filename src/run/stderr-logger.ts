/** The log of `trellis run`, `trellis up` and their sidecars: JSON lines on stderr, so stdout stays the apps'. */
import { pino } from 'pino';
import { createLogger, type Logger } from '../telemetry/logger.js';

export function stderrLogger(level: string, name: string): Logger {
  return createLogger({ level, name, destination: pino.destination({ dest: 2, sync: true }) });
}
