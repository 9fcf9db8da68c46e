/**
 * A routes file for `trellis route apply -f FILE`: one route per YAML document (`---`
 * between them), or several under `routes:`. Validated whole before anything is sent, so
 * that an error names the file, the line and the field (`routes.yaml:7: rules.0.backendRefs.1.subset …`)
 * and nothing is applied.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import { parseRoute } from '../../proxy/routing/schema.js';
import { parseYamlDocuments } from '../../util/yaml-file.js';

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The routes as written (each validated); `file` is the name used in messages. @throws TrellisError CONFIG or VALIDATION. */
export function parseRoutesFile(text: string, file: string): Record<string, unknown>[] {
  const docs = parseYamlDocuments(text, file).filter((doc) => doc.value !== undefined);
  if (docs.length === 0) throw new TrellisError(ErrorCodes.CONFIG, `${file}:1: the file is empty: write a route ({ name, parentRefs, subsets, rules })`, { details: { file, line: 1 } });
  const routes: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  for (const doc of docs) {
    try {
      const value = doc.value;
      if (!isMap(value)) throw new TrellisError(ErrorCodes.VALIDATION, 'a routes file holds maps: one route per document, or { routes: [...] }');
      const list = 'routes' in value ? value['routes'] : [value];
      if ('routes' in value && Object.keys(value).length > 1) throw new TrellisError(ErrorCodes.VALIDATION, 'a document with "routes" holds nothing else', { field: Object.keys(value).find((k) => k !== 'routes') ?? '' });
      if (!Array.isArray(list) || list.length === 0) throw new TrellisError(ErrorCodes.VALIDATION, 'routes must be a non-empty list of routes', { field: 'routes' });
      list.forEach((item: unknown, index) => {
        const prefix = 'routes' in value ? `routes.${index}` : '';
        const spec = parseRoute(item, prefix);
        if (seen.has(spec.name)) throw new TrellisError(ErrorCodes.VALIDATION, `route ${JSON.stringify(spec.name)} appears twice in the file: merge the two`, { field: prefix === '' ? 'name' : `${prefix}.name` });
        seen.add(spec.name);
        routes.push(item as Record<string, unknown>);
      });
    } catch (err) {
      throw doc.locate(err);
    }
  }
  return routes;
}

export async function loadRoutesFile(file: string): Promise<Record<string, unknown>[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TrellisError(ErrorCodes.CONFIG, `cannot read the routes file ${file}: ${messageOf(err)}`, { cause: err });
  }
  return parseRoutesFile(text, file);
}
