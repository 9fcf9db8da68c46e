/**
 * The sidecar config as a YAML file (`trellis proxy --config FILE`): read with positions
 * kept, so that an error about a field (from validation, or a listener that cannot bind)
 * becomes TrellisError CONFIG naming the file and line: `sidecar.yaml:7: app.port must …`.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseAllDocuments, parseDocument, type Document } from 'yaml';
import { ErrorCodes, TrellisError, isTrellisError, messageOf } from '../errors.js';
import { describeIssue } from '../mesh/load.js';
import { lineOf } from '../mesh/source-lines.js';

export interface ConfigFile {
  readonly file: string;
  /** The document as plain data (undefined when empty). */
  readonly value: unknown;
  /** An error about a field of this file, with the file and line; other errors unchanged. */
  locate(err: unknown): unknown;
}

function configError(file: string, line: number, message: string, field?: string, cause?: unknown): TrellisError {
  return new TrellisError(ErrorCodes.CONFIG, `${file}:${line}: ${message}`, {
    ...(field === undefined ? {} : { field }),
    ...(cause === undefined ? {} : { cause }),
    details: { file, line },
  });
}

function pathOf(field: string): Array<string | number> {
  return field.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function syntaxCheck(doc: Document, file: string): void {
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    throw configError(file, syntax.linePos?.[0]?.line ?? 1, `YAML syntax error: ${(syntax.message.split('\n')[0] ?? syntax.code).replace(/ at line \d+, column \d+:?$/, '')}`);
  }
}

function configFile(doc: Document, lines: LineCounter, file: string): ConfigFile {
  return {
    file,
    value: doc.toJS({ maxAliasCount: 100 }) ?? undefined,
    locate(err) {
      if (!isTrellisError(err) || err.field === undefined || err.code === ErrorCodes.CONFIG) return err;
      const path = pathOf(err.field);
      return configError(file, lineOf(doc, lines, path), describeIssue(path, err.message), err.field, err);
    },
  };
}

export function parseConfigText(text: string, file: string): ConfigFile {
  const lines = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  syntaxCheck(doc, file);
  return configFile(doc, lines, file);
}

/** Every document of a multi-document file (`---` between them), each locating its own errors. */
export function parseConfigDocuments(text: string, file: string): ConfigFile[] {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const docs: Document[] = Array.isArray(parsed) ? parsed : [];
  for (const doc of docs) syntaxCheck(doc, file);
  return docs.map((doc) => configFile(doc, lines, file));
}

export async function readConfigFile(file: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TrellisError(ErrorCodes.CONFIG, `cannot read the sidecar config ${file}: ${messageOf(err)}`, { cause: err });
  }
  return parseConfigText(text, file);
}
