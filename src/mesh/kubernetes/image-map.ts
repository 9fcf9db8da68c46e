/**
 * `trellis up -f` runs containers as local commands: the image map says what each image runs
 * here — what its Dockerfile's CMD (command) and RUN (build) do. It is a file,
 * `trellis-images.yaml` next to the manifests (or --images FILE):
 *
 *     images:
 *       my-app-image:
 *         build: ["go", "build", "-o", "my-app", "main.go"]   # once, before the first replica
 *         command: ["./my-app"]
 *
 * or annotations on the pod template (or the Deployment): `trellis.dev/command: "./my-app"`
 * and `trellis.dev/build: "go build -o my-app main.go"` (a JSON list, or words split on
 * spaces). A container's own `command`/`args` win over both, as over an image's ENTRYPOINT/CMD.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { describeIssue } from '../load.js';
import { parseDocuments, lineIn, type SourceProblem } from './documents.js';

export const IMAGE_MAP_FILE = 'trellis-images.yaml';
export const COMMAND_ANNOTATION = 'trellis.dev/command';
export const BUILD_ANNOTATION = 'trellis.dev/build';

export interface ImageCommand {
  readonly command: readonly string[];
  readonly build?: readonly string[] | undefined;
}

export interface ImageMap {
  /** The file it came from (or would, when there is none yet). */
  readonly file: string;
  readonly exists: boolean;
  readonly images: ReadonlyMap<string, ImageCommand>;
}

const words = z.array(z.string({ invalid_type_error: 'items must be strings' }), { invalid_type_error: 'must be a list such as ["./my-app"]' })
  .min(1, 'must name a program');

const imageMapSchema = z.object({
  images: z.record(z.object({ command: words, build: words.optional() }, {
    invalid_type_error: 'each image must be a map such as { command: ["./my-app"] }',
  }).strict(), { required_error: 'images is required', invalid_type_error: 'images must be a map of image name → { command, build }' }),
}, { invalid_type_error: 'an image map must be a map with images' }).strict();

/** The image map for manifests in `dir` (or the given file); problems are collected. */
export function loadImageMap(file: string | undefined, manifestDir: string, problems: SourceProblem[]): ImageMap {
  const path = file ?? join(manifestDir, IMAGE_MAP_FILE);
  if (!existsSync(path)) {
    if (file !== undefined) problems.push({ file: path, line: 1, message: `the image map ${path} does not exist` });
    return { file: path, exists: false, images: new Map() };
  }
  const { documents, problems: syntax } = parseDocuments(readFileSync(path, 'utf8'), path);
  problems.push(...syntax);
  const source = documents[0];
  if (source === undefined) return { file: path, exists: true, images: new Map() };
  const result = imageMapSchema.safeParse(source.value);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const at = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
      const message = issue.code === 'unrecognized_keys' ? `unknown field ${JSON.stringify(issue.keys[0])}: an image has command and build` : issue.message;
      problems.push({ file: path, line: lineIn(source, at), message: describeIssue(at, message) });
    }
    return { file: path, exists: true, images: new Map() };
  }
  return { file: path, exists: true, images: new Map(Object.entries(result.data.images)) };
}

/** An annotation's command: a JSON list, or words split on whitespace. */
export function annotationCommand(value: string): string[] | undefined {
  const text = value.trim();
  if (text.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed) && parsed.length > 0 && parsed.every((w) => typeof w === 'string')) return parsed;
    } catch { /* reported by the caller */ }
    return undefined;
  }
  const split = text.split(/\s+/).filter((w) => w !== '');
  return split.length === 0 ? undefined : split;
}

/** The lines to add for a missing image, as the error shows them. */
export function missingImageHint(map: ImageMap, image: string, guess: string): string {
  const entry = `    ${JSON.stringify(image)}: { command: ["./${guess}"] }`;
  return map.exists
    ? `add under images: in ${map.file}:\n${entry}`
    : `create ${join(dirname(map.file), IMAGE_MAP_FILE)} with:\n  images:\n${entry}\n(or annotate the pod template with ${COMMAND_ANNOTATION}: "./${guess}")`;
}
