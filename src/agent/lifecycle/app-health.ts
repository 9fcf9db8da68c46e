/**
 * The sidecar's local check of its app (HTTP path or TCP connect), run with the same
 * check runner and probes as the control plane's active checks — first probe at once,
 * then every interval, with consecutive-result thresholds.
 */
import { CheckRunner } from '../../health/check-runner.js';
import type { ActiveCheckSpec, ProbeResult } from '../../health/checks/types.js';
import type { HealthStatus } from '../../core/health.js';

export interface AppHealthState {
  readonly status: HealthStatus;
  readonly output: string;
}

export class AppHealth {
  readonly #runner: CheckRunner;
  #state: AppHealthState = { status: 'critical', output: 'not checked yet' };

  constructor(spec: ActiveCheckSpec, app: { address: string; port: number }, onChange: (passing: boolean) => void) {
    this.#runner = new CheckRunner({
      spec,
      target: app,
      random: () => 0, // no jitter: the sidecar waits for its app's first probe
      onResult: (result: ProbeResult) => { this.#state = { status: this.#runner.status, output: result.output }; },
      onChange: (status) => {
        this.#state = { ...this.#state, status };
        onChange(status !== 'critical');
      },
    });
  }

  get state(): AppHealthState {
    return this.#state;
  }

  get passing(): boolean {
    return this.#runner.status !== 'critical';
  }

  start(): void {
    this.#runner.start();
  }

  stop(): void {
    this.#runner.stop();
  }
}
