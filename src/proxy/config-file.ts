/**
 * The sidecar config as a YAML file (`trellis proxy --config FILE`), read by the project's
 * one YAML reader (src/util/yaml-file.ts): an error about a field (from validation, or a
 * listener that cannot bind) becomes TrellisError CONFIG naming the file and line.
 */
import { parseYamlText, readTextFile, type YamlFile } from '../util/yaml-file.js';

export type ConfigFile = YamlFile;

export function parseConfigText(text: string, file: string): ConfigFile {
  return parseYamlText(text, file);
}

export async function readConfigFile(file: string): Promise<ConfigFile> {
  return parseYamlText(await readTextFile(file, 'the sidecar config'), file);
}
