import { badRequest } from '../errors.js';

/**
 * Nesting depth of a JSON text, scanning brackets outside strings. V8 parses 100k-deep JSON but then
 * overflows the stack when serializing it again, so depth is checked before anything is accepted.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 /* [ */ || c === 123 /* { */) { if (++depth > max) max = depth; }
    else if (c === 93 /* ] */ || c === 125 /* } */) depth--;
  }
  return max;
}

/** Parses client JSON; malformed or nested deeper than `maxDepth` is `bad_request`. */
export function parseJson(text: string, maxDepth: number): unknown {
  if (jsonDepth(text) > maxDepth) throw badRequest(`JSON nested deeper than ${maxDepth} levels`);
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('malformed JSON');
  }
}
