/**
 * Read a mesh file: YAML (src/util/yaml-file.ts, positions kept) → the zod schema →
 * a frozen {@link MeshFile}. Every error is TrellisError CONFIG with a message such as
 * `mesh.yaml:7: services.my-service.replicas must be a whole number between 1 and 100`.
 */
import type { z } from 'zod';
import { parseYamlText, readTextFile, type FieldPath } from '../util/yaml-file.js';
import { meshFileSchema, type MeshFile } from './schema.js';

/** The first issue of a zod failure as [path, message]; unknown keys point at the key. */
function firstIssue(error: z.ZodError): [FieldPath, string] {
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
  const doc = parseYamlText(text, file);
  const result = meshFileSchema.safeParse(doc.value);
  if (!result.success) {
    const [path, message] = firstIssue(result.error);
    throw doc.errorAt(path, message);
  }
  return Object.freeze(result.data);
}

/** Read and parse a mesh file from disk. */
export async function loadMeshFile(file: string): Promise<MeshFile> {
  return parseMeshFile(await readTextFile(file, 'the mesh file'), file);
}
