/** Deregisters instances that stayed critical longer than their deregisterCriticalAfter. */
import type { Logger } from 'pino';
import type { Registry } from '../registry/registry.js';

export interface CriticalReaper {
  close(): void;
}

export function startCriticalReaper(registry: Registry, logger: Logger, everyMs = 1_000): CriticalReaper {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    registry.deregisterExpiredCritical().then((removed) => {
      for (const ref of removed) logger.info(ref, 'deregistered: critical longer than deregisterCriticalAfter');
    }, (err: unknown) => logger.error({ err }, 'critical reaper failed'))
      .finally(() => { running = false; });
  }, everyMs);
  timer.unref();
  return { close: () => clearInterval(timer) };
}
