/**
 * Key prefixes as SQL ranges. Keys are TEXT compared with SQLite's BINARY collation, i.e. by
 * their UTF-8 bytes, which is the same order as by Unicode code point. "Starts with `prefix`"
 * is therefore `key >= prefix AND key < prefixEnd(prefix)`, a range SQLite answers from the
 * primary-key index.
 */

const MAX_CODE_POINT = 0x10ffff;
const FIRST_SURROGATE = 0xd800;
const AFTER_SURROGATES = 0xe000;

/**
 * The smallest string greater than every string that starts with `prefix`, or undefined when
 * there is none (the empty prefix, or one made only of U+10FFFF): the range is then unbounded.
 */
export function prefixEnd(prefix: string): string | undefined {
  const points = Array.from(prefix, (char) => char.codePointAt(0) ?? 0);
  for (let i = points.length - 1; i >= 0; i -= 1) {
    const point = points[i];
    if (point < MAX_CODE_POINT) {
      const next = point + 1 === FIRST_SURROGATE ? AFTER_SURROGATES : point + 1;
      return String.fromCodePoint(...points.slice(0, i), next);
    }
  }
  return undefined;
}
