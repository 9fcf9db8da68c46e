/**
 * Read a mesh file: YAML (src/util/yaml-file.ts, positions kept) → the zod schema →
 * a frozen {@link MeshFile}. Every error is TrellisError CONFIG with a message such as
 * `mesh.yaml:7: services.my-service.replicas must be a whole number between 1 and 100`.
 */
import type { z } from 'zod';
import { ErrorCodes, TrellisError } from '../errors.js';
import { didYouMean } from '../util/suggest.js';
import { fieldsAt, meshFileSchema, unknownUpstreamsIn, type MeshFile } from './schema.js';
import { configError, describeIssue, parseYamlText, readTextFile } from '../util/yaml-file.js';

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
  const doc = parseYamlText(text, file, { multipleDocumentsHint: 'a mesh file is one document; Kubernetes manifests go to trellis up -f FILE…' });
  const result = meshFileSchema.safeParse(doc.value);
  if (!result.success) {
    // Every problem at once, in line order (each once).
    // zod skips the file's cross-field checks once a field has the wrong type: the upstream
    // references are checked on the raw file too (the same message twice is shown once).
    const problems = [...issuesOf(result.error), ...unknownUpstreamsIn(doc.value)]
      .map(([path, message]) => ({ line: doc.lineAt(path), text: describeIssue(path, message), field: path.join('.') }))
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
