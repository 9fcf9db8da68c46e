/** Shared flag parsers for commander: each error names the flag and the fix. */
import { InvalidArgumentError, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ADMIN_TOKEN_FILE } from '../security/tokens/admin-token.js';
import { DEFAULT_DATA_DIR, readEnvironment } from '../config/env.js';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { MTLS_MODES, type MtlsMode } from '../security/mtls/mode.js';
import { DURATION_FORMS, parseDuration } from '../util/duration.js';
import { ControlPlaneClient } from '../client/control-plane.js';

export interface GlobalOptions {
  controlPlane: string;
  controlPlaneCa?: string;
  json?: boolean;
}

export function withClientOptions(command: Command): Command {
  return command
    .option('--control-plane <url,…>', 'control plane URL, or several replicas separated by commas (env TRELLIS_CONTROL_PLANE)', readEnvironment().controlPlane)
    .option(CONTROL_PLANE_CA_FLAG, CONTROL_PLANE_CA_HELP, readEnvironment().controlPlaneCa)
    .option('--json', 'print JSON instead of a table');
}

export const CONTROL_PLANE_CA_FLAG = '--control-plane-ca <file>';
export const CONTROL_PLANE_CA_HELP = 'trust this CA (PEM) for an https:// control plane (env TRELLIS_CONTROL_PLANE_CA)';

/** The contents of --control-plane-ca (PEM), or undefined. */
export function readControlPlaneCa(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, `--control-plane-ca: cannot read ${file}: ${messageOf(err)}`, { field: 'control-plane-ca' });
  }
}

export function clientFrom(options: GlobalOptions): ControlPlaneClient {
  const ca = readControlPlaneCa(options.controlPlaneCa);
  return new ControlPlaneClient(options.controlPlane, cliToken(), ca === undefined ? undefined : { ca });
}

/**
 * The token the CLI sends: TRELLIS_ADMIN_TOKEN, else TRELLIS_TOKEN (any token, such as a
 * read-only one), else the admin token a local control plane wrote in its data dir
 * (TRELLIS_DATA_DIR); or, when there is none, why (the file looked for and what was wrong with it).
 */
function lookUpToken(): { token: string } | { missing: string } {
  const env = readEnvironment();
  if (env.adminToken !== undefined) return { token: env.adminToken };
  if (env.token !== undefined) return { token: env.token };
  const file = resolve(env.dataDir, ADMIN_TOKEN_FILE);
  let why: string;
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token !== '') return { token };
    why = 'is empty';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read by this user' : `cannot be read (${messageOf(err)})`;
  }
  const dataDir = env.dataDir === DEFAULT_DATA_DIR
    ? `the default data dir ${DEFAULT_DATA_DIR}, relative to this directory`
    : `TRELLIS_DATA_DIR=${env.dataDir}`;
  return {
    missing: `no token for the control plane's API: TRELLIS_ADMIN_TOKEN and TRELLIS_TOKEN are not set, and the admin token file ${file} (${dataDir}) ${why}. `
      + 'Set TRELLIS_DATA_DIR to the data dir of the control plane (`trellis server --data-dir`; `trellis up` prints it), '
      + 'or TRELLIS_TOKEN to a token (`trellis token create --read-only` makes one)',
  };
}

function cliToken(): string | undefined {
  const found = lookUpToken();
  return 'token' in found ? found.token : undefined;
}

/**
 * A control plane's "this call needs a token" when the CLI had none to send → the CLI's own
 * message: which file it looked for and how to give it a token. Any other error as it is.
 */
export function withTokenHelp(err: unknown): unknown {
  if (!(err instanceof TrellisError) || err.code !== ErrorCodes.TOKEN_MISSING) return err;
  const found = lookUpToken();
  return 'missing' in found ? new TrellisError(ErrorCodes.TOKEN_MISSING, found.missing, { cause: err }) : err;
}

export function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number between ${min} and ${max}.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}.`);
    return n;
  };
}

/** A duration flag (kept as given); with `range`, its bounds in ms and how to write them. */
export function durationArg(name: string, range?: { minMs: number; maxMs: number; words: string }) {
  return (value: string): string => {
    const ms = parseDuration(value);
    if (ms === undefined) throw new InvalidArgumentError(`${name} must be a duration: ${DURATION_FORMS} (got ${JSON.stringify(value)}).`);
    if (range !== undefined && (ms < range.minMs || ms > range.maxMs)) throw new InvalidArgumentError(`${name} must be from ${range.words} (got ${value}).`);
    return value;
  };
}

/** The join token: from --token-file, else TRELLIS_TOKEN (never a flag's value: argv is visible to every user). */
export function readToken(tokenFile: string | undefined): string | undefined {
  if (tokenFile === undefined) return readEnvironment().token;
  try {
    return readFileSync(tokenFile, 'utf8').trim();
  } catch (err) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, `--token-file: cannot read ${tokenFile}: ${messageOf(err)}`, { field: 'token-file' });
  }
}

export function mtlsModeArg(value: string): MtlsMode {
  const mode = MTLS_MODES.find((m) => m === value);
  if (mode === undefined) throw new InvalidArgumentError(`--mtls must be one of ${MTLS_MODES.join(', ')}.`);
  return mode;
}

/** --meta k=v, repeatable. */
export function collectLabel(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`--meta takes KEY=VALUE, e.g. --meta version=v2 (got ${JSON.stringify(value)}).`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}
