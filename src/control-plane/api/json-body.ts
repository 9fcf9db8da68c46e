/**
 * The API's JSON body parser: fastify's own (prototype-poisoning checks included) on the body
 * decoded as UTF-8, then every string of the document checked to be well-formed text — an
 * invalid byte sequence or a lone surrogate is refused with TRELLIS_ERR_VALIDATION naming the
 * field (`metadata.version`), never stored as U+FFFD or as a string no other client can encode.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyRequest } from 'fastify';
import { assertWellFormedStrings } from '../../util/validation.js';

type Done = (err: Error | null, body?: unknown) => void;
type StringParser = (request: FastifyRequest, body: string, done: Done) => void;

export function jsonBodyParser(parseJson: StringParser): (request: FastifyRequest, body: string | Buffer, done: Done) => void {
  return (request, body, done) => {
    const raw = typeof body === 'string' ? Buffer.from(body) : body;
    parseJson(request, raw.toString('utf8'), (err, parsed) => {
      if (err !== null) { done(err); return; }
      try {
        assertWellFormedStrings(parsed, !isUtf8(raw));
      } catch (invalid) {
        done(invalid as Error);
        return;
      }
      done(null, parsed);
    });
  };
}
