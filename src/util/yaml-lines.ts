/**
 * Where a value sits in a YAML document: the 1-based line of the node at a path
 * (`['services', 'caller', 'upstreams', 0]`), or of the nearest ancestor that exists
 * when the path ends in a missing key. Keys are reported at the key's own line, so
 * `health:` followed by a nested block points at `health:`.
 */
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

type PathSegment = string | number;

function lineAt(lines: LineCounter, node: Node | null | undefined): number | undefined {
  const offset = node?.range?.[0];
  return offset === undefined ? undefined : lines.linePos(offset).line;
}

/** The line of `path` in `doc`, or of its deepest existing ancestor; 1 for an empty document. */
export function lineOf(doc: Document, lines: LineCounter, path: readonly PathSegment[]): number {
  let node: unknown = doc.contents;
  let line = lineAt(lines, doc.contents) ?? 1;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === segment);
      if (pair === undefined) break;
      line = lineAt(lines, isScalar(pair.key) ? pair.key : (pair.value as Node | null)) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (item === undefined) break;
      line = lineAt(lines, item) ?? line;
      node = item;
    } else {
      break;
    }
  }
  return line;
}
