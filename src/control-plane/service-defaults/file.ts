/**
 * A service-defaults file for `trellis service-defaults apply -f FILE`: one entry per YAML
 * document (`---` between them), or several under `serviceDefaults:`. Read with positions
 * kept and validated whole before anything is sent, so that an error names the file, the
 * line and the field (`defaults.yaml:4: retry.maxAttempts must be …`) and nothing is applied.
 *
 *     service: orders
 *     timeout: 2s
 *     perTryTimeout: 500ms
 *     retry: { maxAttempts: 3, retryOnStatus: [502, 503] }
 *     loadBalancer: peak-ewma
 */
import { readFile } from 'node:fs/promises';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import { parseYamlDocuments, type YamlFile } from '../../util/yaml-file.js';
import { parseServiceDefaults } from './schema.js';

export interface ServiceDefaultsEntry {
  readonly service: string;
  readonly policy: Readonly<Record<string, unknown>>;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function entriesOf(doc: YamlFile, file: string): Array<{ entry: ServiceDefaultsEntry; field: string }> {
  const value = doc.value;
  try {
    if (!isMap(value)) {
      throw new TrellisError(ErrorCodes.CONFIG, `${file}:1: a service-defaults file holds maps: { service, timeout, retry, … } or { serviceDefaults: [...] } per document`, { details: { file, line: 1 } });
    }
    if (!('serviceDefaults' in value)) return [{ entry: parseServiceDefaults(value, undefined), field: 'service' }];
    const extra = Object.keys(value).find((key) => key !== 'serviceDefaults');
    if (extra !== undefined) throw new TrellisError(ErrorCodes.VALIDATION, `unknown field ${JSON.stringify(extra)}: a document with "serviceDefaults" holds nothing else`, { field: extra });
    const list = value['serviceDefaults'];
    if (!Array.isArray(list) || list.length === 0) throw new TrellisError(ErrorCodes.VALIDATION, 'serviceDefaults must be a non-empty list of entries', { field: 'serviceDefaults' });
    return list.map((item, index) => ({ entry: parseServiceDefaults(item, undefined, `serviceDefaults.${index}`), field: `serviceDefaults.${index}.service` }));
  } catch (err) {
    throw doc.locate(err);
  }
}

/** Parse the file's text; `file` is the name used in messages. @throws TrellisError CONFIG. */
export function parseServiceDefaultsFile(text: string, file: string): ServiceDefaultsEntry[] {
  const docs = parseYamlDocuments(text, file).filter((doc) => doc.value !== undefined);
  if (docs.length === 0) throw new TrellisError(ErrorCodes.CONFIG, `${file}:1: the file is empty: write an entry ({ service, timeout, retry, … })`, { details: { file, line: 1 } });
  const seen = new Set<string>();
  const entries: ServiceDefaultsEntry[] = [];
  for (const doc of docs) {
    for (const { entry, field } of entriesOf(doc, file)) {
      if (seen.has(entry.service)) {
        throw doc.locate(new TrellisError(ErrorCodes.VALIDATION, `service ${JSON.stringify(entry.service)} appears twice in the file: merge the two entries`, { field }));
      }
      seen.add(entry.service);
      entries.push(entry);
    }
  }
  return entries;
}

export async function loadServiceDefaultsFile(file: string): Promise<ServiceDefaultsEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TrellisError(ErrorCodes.CONFIG, `cannot read the service-defaults file ${file}: ${messageOf(err)}`, { cause: err });
  }
  return parseServiceDefaultsFile(text, file);
}
