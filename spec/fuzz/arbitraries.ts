// Generators of hostile input shared by the fuzz suites.
import fc from 'fast-check';
import { RESERVED } from './harness.js';

/** Channel names: valid ones (some of them clientPublish), near-misses and arbitrary strings; never the reserved ones. */
export const channelName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('fuzz-open', 'fuzz-a', 'fuzz.b:c@d=e,f;g', '$user:watcher', '$user:alice', '', ' ', 'a/b', 'x'.repeat(161), 'é'),
  fc.stringMatching(/^[A-Za-z0-9_.:@=,;-]{1,40}$/),
  fc.string({ unit: 'binary', maxLength: 40 }),
).filter((c) => !RESERVED.has(c));

/** Numbers a JSON parser and a validator must survive: huge, tiny, negative zero, unsafe integers, fractions. */
export const oddNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -0, -1, 1.5, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Number literals as JSON text, including ones no double holds exactly (or at all: 1e999 parses as Infinity). */
export const numberText: fc.Arbitrary<string> = fc.oneof(
  oddNumber.map((n) => JSON.stringify(n)),
  fc.constantFrom('1e999', '-1e999', '123456789012345678901234567890', '0.0000000000000000000001', '-0', '1E400'),
  fc.bigInt().map((b) => b.toString()),
);

/** Any JSON value, unicode strings included. */
export const json: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 });

/** A value of any type for a field: JSON values, odd numbers, unicode and long strings, objects, arrays. */
export const anyField: fc.Arbitrary<unknown> = fc.oneof(
  json, oddNumber, fc.string({ unit: 'binary', maxLength: 64 }), fc.string({ maxLength: 300 }),
  fc.constantFrom(null, true, false, [], {}, '', 'connect', 'subscribe'),
);

/** A `since` position: sometimes well-formed, mostly not. */
export const since: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ epoch: fc.oneof(fc.stringMatching(/^[0-9a-f]{0,16}$/), anyField), offset: fc.oneof(fc.nat(), oddNumber, anyField) }),
  anyField,
);

/** JSON text nested `depth` levels deep (arrays and objects). */
export const deepJson: fc.Arbitrary<string> = fc.tuple(fc.integer({ min: 1, max: 400 }), fc.boolean()).map(([d, objects]) =>
  objects ? `${'{"a":'.repeat(d)}1${'}'.repeat(d)}` : `${'['.repeat(d)}${']'.repeat(d)}`);

/** Byte strings that are not UTF-8 text (or are, by chance). */
export const bytes: fc.Arbitrary<Uint8Array> = fc.uint8Array({ maxLength: 256 });
