/**
 * What `trellis up` runs, from the files it is given: one mesh file (docs/mesh-file.md), or
 * Kubernetes manifests — several files, several documents each (docs/kubernetes.md) —
 * translated to a mesh through the image map. Problems are all reported at once, in file
 * and line order; warnings (fields with no meaning here) come back to be printed once.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { formatProblem, parseDocuments, sortProblems, type SourceDocument, type SourceProblem } from './kubernetes/documents.js';
import { loadImageMap } from './kubernetes/image-map.js';
import { isKubernetesObject, translateManifests } from './kubernetes/translate.js';
import { describeIssue, parseMeshFile } from './load.js';
import { meshFileSchema, type MeshFile } from './schema.js';

export interface MeshSource {
  readonly kind: 'mesh-file' | 'kubernetes';
  readonly mesh: MeshFile;
  /** The files, for messages ("deployment.yaml, service.yaml"). */
  readonly label: string;
  /** Where commands run: the first file's directory. */
  readonly baseDir: string;
  /** "deployment.yaml:25: spec.strategy: not supported by trellis up: ignored", once each, in line order. */
  readonly warnings: readonly string[];
  /** The mesh file the manifests were translated to (for --explain). */
  readonly derived?: Readonly<Record<string, unknown>>;
}

export interface SourceOptions {
  /** The image map file (default: trellis-images.yaml next to the first manifest). */
  readonly images?: string;
}

function failWith(problems: readonly SourceProblem[], files: readonly string[]): never {
  const sorted = sortProblems(problems, files);
  const [only] = sorted;
  if (sorted.length === 1 && only !== undefined) {
    throw new TrellisError(ErrorCodes.CONFIG, formatProblem(only), { details: { file: only.file, line: only.line } });
  }
  throw new TrellisError(ErrorCodes.CONFIG, `${sorted.length} problems:\n${sorted.map((p) => `  ${formatProblem(p)}`).join('\n')}`, {
    details: { problems: sorted.map((p) => ({ file: p.file, line: p.line, message: p.message })) },
  });
}

export function loadMeshSources(files: readonly string[], options: SourceOptions = {}): MeshSource {
  const [first] = files;
  if (first === undefined) throw new TrellisError(ErrorCodes.CONFIG, 'no file given: trellis up mesh.yaml, or trellis up -f deployment.yaml -f service.yaml');
  const problems: SourceProblem[] = [];
  const documents: SourceDocument[] = [];
  const texts = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new TrellisError(ErrorCodes.CONFIG, `cannot read ${file}: ${messageOf(err)}`, { cause: err });
    }
    texts.set(file, text);
    const parsed = parseDocuments(text, file);
    problems.push(...parsed.problems);
    documents.push(...parsed.documents);
  }
  const kubernetes = documents.some((d) => isKubernetesObject(d.value));
  if (!kubernetes && files.length === 1 && documents.length <= 1 && problems.length === 0) {
    return { kind: 'mesh-file', mesh: parseMeshFile(texts.get(first) ?? '', first), label: first, baseDir: dirname(first), warnings: [] };
  }
  if (!kubernetes && problems.length === 0) {
    const extra = documents[1];
    throw new TrellisError(ErrorCodes.CONFIG, `${extra?.file ?? first}: ${documents.length} YAML documents, and none is a Kubernetes object: a mesh file is one document (put every service under one services: map), or give Kubernetes manifests (apiVersion/kind) with -f`);
  }
  if (problems.length > 0) failWith(problems, files);
  const images = loadImageMap(options.images, dirname(first), problems);
  const translation = translateManifests(documents, images);
  problems.push(...translation.problems);
  if (problems.length > 0) failWith(problems, [...files, images.file]);
  const result = meshFileSchema.safeParse(translation.mesh);
  if (!result.success) {
    const issues = result.error.issues.map((i) => describeIssue(i.path, i.message));
    throw new TrellisError(ErrorCodes.CONFIG, `the mesh derived from ${files.join(', ')} is not valid:\n${issues.map((m) => `  ${m}`).join('\n')}`);
  }
  return {
    kind: 'kubernetes',
    mesh: Object.freeze(result.data),
    label: files.join(', '),
    baseDir: dirname(first),
    warnings: sortProblems(translation.warnings, files).map(formatProblem),
    derived: translation.mesh,
  };
}
