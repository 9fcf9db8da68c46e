/** Human tables by default, JSON with --json: every command prints through here. */
import { TrellisError, messageOf } from '../errors.js';

export interface OutputOptions {
  json?: boolean;
}

export { formatTable } from '../util/table.js';

export function print(options: OutputOptions, json: unknown, human: () => string): void {
  process.stdout.write(`${options.json ? JSON.stringify(json, null, 2) : human()}\n`);
}

/** Print an error (one line, or the JSON error shape) and set a failing exit code. */
export function printError(err: unknown, options: OutputOptions = {}): void {
  process.exitCode = 1;
  if (options.json) {
    const body = err instanceof TrellisError ? err.toJSON() : { error: { code: 'TRELLIS_ERR_INTERNAL', message: messageOf(err) } };
    process.stderr.write(`${JSON.stringify(body)}\n`);
    return;
  }
  if (err instanceof TrellisError) {
    process.stderr.write(`trellis: ${err.message} [${err.code}${err.field === undefined ? '' : ` field=${err.field}`}]\n`);
  } else {
    process.stderr.write(`trellis: ${messageOf(err)}\n`);
  }
}
