/**
 * `mkdir -p`, by hand: Node's `mkdirSync(…, { recursive: true })` spins forever when a parent
 * refuses with ENOENT (e.g. anything under /proc). Directories it creates get `mode` (before the
 * umask). Throws EEXIST if `dir` is a file.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export function makeDirectory(dir: string, mode = 0o777): void {
  try {
    mkdirSync(dir, { mode });
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
    if (code === 'EEXIST' && statSync(dir).isDirectory()) return;
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    makeDirectory(parent, mode);
    mkdirSync(dir, { mode });
  }
}
