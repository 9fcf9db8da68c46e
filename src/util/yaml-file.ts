/**
 * The one reader of the project's YAML files (the mesh file, the sidecar config, policy
 * files): read with positions kept, so that an error about a field — from a schema, or from
 * whatever uses the value later (a listener that cannot bind) — becomes TrellisError CONFIG
 * naming the file and line: `sidecar.yaml:7: app.port must …`.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseAllDocuments, parseDocument, type Document, type YAMLError } from 'yaml';
import { ErrorCodes, TrellisError, isTrellisError, messageOf } from '../errors.js';
import { lineOf } from './yaml-lines.js';

export type FieldPath = ReadonlyArray<string | number>;

export interface YamlFile {
  readonly file: string;
  /** The document as plain data (undefined when empty). */
  readonly value: unknown;
  /** An error about a field of this file (a TrellisError with `field`), with the file and line; other errors unchanged. */
  locate(err: unknown): unknown;
  /** A CONFIG error at `path` of this file: `file:line: path.to.field must …`. */
  errorAt(path: FieldPath, message: string): TrellisError;
  /** The line of `path` (of its nearest existing parent). */
  lineAt(path: FieldPath): number;
}

export interface YamlTextOptions {
  /** Said after the syntax error when the text holds several documents where one is expected. */
  readonly multipleDocumentsHint?: string;
}

/** `services.my-service.replicas must …` from a path and a message that may start with the leaf name. */
export function describeIssue(path: FieldPath, message: string): string {
  if (path.length === 0) return message;
  const dotted = path.join('.');
  const leaf = String(path[path.length - 1]);
  return message.startsWith(`${leaf} `) ? `${dotted}${message.slice(leaf.length)}` : `${dotted}: ${message}`;
}

/** TrellisError CONFIG `file:line: message`, with the file and line in its details. */
export function configError(file: string, line: number, message: string, field?: string, cause?: unknown): TrellisError {
  return new TrellisError(ErrorCodes.CONFIG, `${file}:${line}: ${message}`, {
    ...(field === undefined || field === '' ? {} : { field }),
    ...(cause === undefined ? {} : { cause }),
    details: { file, line },
  });
}

function pathOf(field: string): Array<string | number> {
  return field.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

/** A YAML syntax error as `YAML syntax error: …` at its line, without the library's position suffix or advice about its own API. */
export function syntaxProblem(error: YAMLError, text: string): { readonly line: number; readonly message: string } {
  // An unclosed bracket is reported past the last line: point at the last line instead.
  const lastLine = Math.max(1, text.replace(/\n$/, '').split('\n').length);
  const line = Math.min(error.linePos?.[0]?.line ?? 1, lastLine);
  // Never the library's advice about its own API ("please use YAML.parseAllDocuments()").
  const first = (error.message.split('\n')[0] ?? error.code).replace(/ at line \d+, column \d+:?$/, '').replace(/;? ?please use .*$/i, '').trim();
  return { line, message: `YAML syntax error: ${first}` };
}

function syntaxCheck(doc: Document, text: string, file: string, options: YamlTextOptions = {}): void {
  const syntax = doc.errors[0];
  if (syntax === undefined) return;
  const { line, message } = syntaxProblem(syntax, text);
  const hint = syntax.code === 'MULTIPLE_DOCS' && options.multipleDocumentsHint !== undefined ? `: ${options.multipleDocumentsHint}` : '';
  throw configError(file, line, `${message}${hint}`);
}

function yamlFile(doc: Document, lines: LineCounter, file: string): YamlFile {
  const errorAt = (path: FieldPath, message: string, cause?: unknown): TrellisError =>
    configError(file, lineOf(doc, lines, path), describeIssue(path, message), path.join('.'), cause);
  return {
    file,
    value: doc.toJS({ maxAliasCount: 100 }) ?? undefined,
    locate(err) {
      if (!isTrellisError(err) || err.field === undefined || err.code === ErrorCodes.CONFIG) return err;
      return errorAt(pathOf(err.field), err.message, err);
    },
    errorAt: (path, message) => errorAt(path, message),
    lineAt: (path) => lineOf(doc, lines, path),
  };
}

const OPTIONS = { prettyErrors: true, uniqueKeys: true } as const;

/** One YAML document; `file` is the name used in messages. @throws TrellisError CONFIG on a syntax error. */
export function parseYamlText(text: string, file: string, options: YamlTextOptions = {}): YamlFile {
  const lines = new LineCounter();
  const doc: Document = parseDocument(text, { ...OPTIONS, lineCounter: lines });
  syntaxCheck(doc, text, file, options);
  return yamlFile(doc, lines, file);
}

/** Every document of a multi-document file (`---` between them), each locating its own errors. */
export function parseYamlDocuments(text: string, file: string): YamlFile[] {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { ...OPTIONS, lineCounter: lines });
  const docs: Document[] = Array.isArray(parsed) ? parsed : [];
  for (const doc of docs) syntaxCheck(doc, text, file);
  return docs.map((doc) => yamlFile(doc, lines, file));
}

/** A file's text; `what` names it in the error (`the mesh file`). @throws TrellisError CONFIG. */
export async function readTextFile(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new TrellisError(ErrorCodes.CONFIG, `cannot read ${what} ${file}: ${messageOf(err)}`, { cause: err });
  }
}
