/**
 * Read a mesh file: YAML (src/util/yaml-file.ts, positions kept) → the zod schema →
 * a frozen {@link MeshFile}. Every error is TrellisError CONFIG with a message such as
 * `mesh.yaml:7: services.my-service.replicas must be a whole number between 1 and 100`.
 */
import type { z } from 'zod';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { didYouMean } from '../util/suggest.js';
import { fieldsAt, meshFileSchema, type MeshFile } from './schema.js';
import { lineOf } from '../util/yaml-lines.js';
import { LineCounter, parseDocument } from 'yaml';
import { configError, describeIssue, readTextFile } from '../util/yaml-file.js';

export { describeIssue };

/** Every issue of a zod failure as [path, message]; unknown keys point at the key and suggest the closest field. */
function issuesOf(error: z.ZodError): Array<[Array<string | number>, string]> {
  if (error.issues.length === 0) return [[[], 'invalid mesh file']];
  return error.issues.flatMap((issue): Array<[Array<string | number>, string]> => {
    if (issue.code !== 'unrecognized_keys') return [[issue.path, issue.message]];
    return issue.keys.map((key) => {
      const hint = didYouMean(key, fieldsAt(issue.path));
      return [[...issue.path, key], `unknown field ${JSON.stringify(key)}${hint === '' ? ': remove it or fix its spelling' : hint} (see docs/mesh-file.md)`];
    });
  });
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
    // Every problem at once, in line order (each once).
    const problems = issuesOf(result.error)
      .map(([path, message]) => ({ line: lineOf(doc, lines, path), text: describeIssue(path, message), field: path.join('.') }))
      .sort((a, b) => a.line - b.line)
      .filter((p, i, all) => all.findIndex((q) => q.line === p.line && q.text === p.text) === i);
    const [first] = problems;
    if (first === undefined) throw configError(file, 1, 'invalid mesh file');
    if (problems.length === 1) throw configError(file, first.line, first.text, first.field);
    throw new TrellisError(ErrorCodes.CONFIG, problems.map((p) => `${file}:${p.line}: ${p.text}`).join('\n'), {
      ...(first.field === '' ? {} : { field: first.field }),
      details: { file, line: first.line, problems: problems.map((p) => ({ line: p.line, message: p.text })) },
    });
  }
  return Object.freeze(result.data);
}

/** Read and parse a mesh file from disk. */
export async function loadMeshFile(file: string): Promise<MeshFile> {
  return parseMeshFile(await readTextFile(file, 'the mesh file'), file);
}
