/**
 * Read a mesh file: YAML (parseDocument, so positions are kept) → the zod schema →
 * a frozen {@link MeshFile}. Every error is TrellisError CONFIG with a message such as
 * `mesh.yaml:7: services.my-service.replicas must be a whole number between 1 and 100`.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { meshFileSchema, type MeshFile } from './schema.js';
import { lineOf } from './source-lines.js';

/** `services.my-service.replicas must …` from a path and a message that may start with the leaf name. */
export function describeIssue(path: readonly (string | number)[], message: string): string {
  if (path.length === 0) return message;
  const dotted = path.join('.');
  const leaf = String(path[path.length - 1]);
  return message.startsWith(`${leaf} `) ? `${dotted}${message.slice(leaf.length)}` : `${dotted}: ${message}`;
}

function configError(file: string, line: number, message: string, field?: string): TrellisError {
  return new TrellisError(ErrorCodes.CONFIG, `${file}:${line}: ${message}`, {
    ...(field === undefined || field === '' ? {} : { field }),
    details: { file, line },
  });
}

/** The first issue of a zod failure as [path, message]; unknown keys point at the key. */
function firstIssue(error: z.ZodError): [Array<string | number>, string] {
  const issue = error.issues[0];
  if (issue === undefined) return [[], 'invalid mesh file'];
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return [[...issue.path, key], `unknown field ${JSON.stringify(key)}: remove it or fix its spelling (see docs/mesh-file.md)`];
  }
  return [issue.path, issue.message];
}

/** Parse mesh-file text; `file` is the name used in messages. */
export function parseMeshFile(text: string, file: string): MeshFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    // An unclosed bracket is reported past the last line: point at the last line instead.
    const lastLine = Math.max(1, text.replace(/\n$/, '').split('\n').length);
    const line = Math.min(syntax.linePos?.[0]?.line ?? 1, lastLine);
    // Never the library's advice about its own API ("please use YAML.parseAllDocuments()").
    const first = (syntax.message.split('\n')[0] ?? syntax.code).replace(/ at line \d+, column \d+:?$/, '').replace(/;? ?please use .*$/i, '').trim();
    const hint = syntax.code === 'MULTIPLE_DOCS' ? ': a mesh file is one document; Kubernetes manifests go to trellis up -f FILE…' : '';
    throw configError(file, line, `YAML syntax error: ${first}${hint}`);
  }
  const result = meshFileSchema.safeParse(doc.toJS({ maxAliasCount: 100 }) ?? undefined);
  if (!result.success) {
    const [path, message] = firstIssue(result.error);
    throw configError(file, lineOf(doc, lines, path), describeIssue(path, message), path.join('.'));
  }
  return Object.freeze(result.data);
}

/** Read and parse a mesh file from disk. */
export async function loadMeshFile(file: string): Promise<MeshFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TrellisError(ErrorCodes.CONFIG, `cannot read the mesh file ${file}: ${messageOf(err)}`, { cause: err });
  }
  return parseMeshFile(text, file);
}
