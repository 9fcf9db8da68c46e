/**
 * The YAML documents of one or more files, each with what is needed to point at a line:
 * `parseAllDocuments` (a file may hold several documents separated by `---`) with a line
 * counter per file. Syntax errors are collected, never thrown one by one, and never carry
 * the YAML library's own hints.
 */
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { lineOf } from '../../util/yaml-lines.js';
import { syntaxProblem } from '../../util/yaml-file.js';

export interface SourceDocument {
  readonly file: string;
  readonly doc: Document;
  readonly lines: LineCounter;
  /** The document as plain data. */
  readonly value: unknown;
}

/** `deployment.yaml:12: message`, sortable by file and line. */
export interface SourceProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export function formatProblem(p: SourceProblem): string {
  return `${p.file}:${p.line}: ${p.message}`;
}

/** Problems in file order, then line order, each once. */
export function sortProblems(problems: readonly SourceProblem[], files: readonly string[]): SourceProblem[] {
  const seen = new Set<string>();
  return [...problems]
    .sort((a, b) => files.indexOf(a.file) - files.indexOf(b.file) || a.line - b.line)
    .filter((p) => { const key = formatProblem(p); if (seen.has(key)) return false; seen.add(key); return true; });
}

/** The line of a path inside a document. */
export function lineIn(source: SourceDocument, path: readonly (string | number)[]): number {
  return lineOf(source.doc, source.lines, path);
}

/** Parse `text`; empty documents (a trailing `---`) are left out. */
export function parseDocuments(text: string, file: string): { documents: SourceDocument[]; problems: SourceProblem[] } {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const docs = Array.isArray(parsed) ? parsed : [parsed];
  const problems: SourceProblem[] = [];
  const documents: SourceDocument[] = [];
  for (const doc of docs) {
    for (const error of doc.errors) {
      problems.push({ file, ...syntaxProblem(error, text) });
    }
    if (doc.errors.length > 0) continue;
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    documents.push({ file, doc, lines, value });
  }
  return { documents, problems };
}
