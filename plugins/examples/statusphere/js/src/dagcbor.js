// Decoding a DAG-CBOR record body into its text fields, failing as the Rust SDK fails.
//
// The Rust SDK decodes records with `serde_ipld_dagcbor` 0.6 (built on `cbor4ii` 0.2), and an
// undecodable record becomes `invalid-record` with that decoder's error as its message (`Eof`,
// `Mismatch { expect_major: 5, byte: 97 }`, `Msg("missing field `status`")`, ...). To give the
// same outcome for every body, this module takes the same steps in the same order, quirks
// included:
//
// - a head byte's number is read through a mask of its expected major type rather than checked
//   against it, so the integer `1` reads as a map of one entry;
// - fields the record type does not name are skipped leniently (any CBOR item, any tag), but
//   nesting deeper than 256 levels is refused;
// - lengths must fit the 32-bit `usize` of `wasm32`;
// - a field named twice, a field missing or bytes after the record are errors.

import { debugStr } from './rustDebug.js';

const [UNSIGNED, NEGATIVE, BYTES, STRING, ARRAY, MAP, TAG] = [0, 1, 2, 3, 4, 5, 6];
const BREAK = 0xff;

/** A body that does not decode; `message` is the Rust decoder's. */
export class DecodeError extends Error {}

/**
 * Decodes a map holding (at least) the text `fields`, as serde's derived `Deserialize` of a
 * struct of `String`s does; other entries are skipped. Returns an object of the fields.
 */
export function decodeFields(body, fields) {
  const reader = new Reader(body);
  reader.stepIn();
  const count = length(reader, reader.pull(), MAP);
  if (count === null) throw new DecodeError('IndefiniteSize');
  const found = new Map();
  for (let entry = 0; entry < count; entry++) {
    const key = text(reader);
    if (!fields.includes(key)) {
      skip(reader);
    } else if (found.has(key)) {
      throw message(`duplicate field \`${key}\``);
    } else {
      found.set(key, text(reader));
    }
  }
  for (const field of fields) {
    if (!found.has(field)) throw message(`missing field \`${field}\``);
  }
  reader.stepOut();
  if (reader.pos < reader.data.length) throw new DecodeError('TrailingData');
  return Object.fromEntries(found);
}

/** The bytes of a body, read front to back, with the decoder's nesting budget. */
class Reader {
  constructor(data) {
    this.data = data;
    this.pos = 0;
    this.depthLeft = 256;
  }

  pull() {
    if (this.pos >= this.data.length) throw new DecodeError('Eof');
    return this.data[this.pos++];
  }

  take(count) {
    if (this.data.length - this.pos < count) throw new DecodeError('Eof');
    this.pos += count;
    return this.data.subarray(this.pos - count, this.pos);
  }

  stepIn() {
    if (this.depthLeft === 0) throw new DecodeError('DepthLimit');
    this.depthLeft--;
  }

  stepOut() {
    this.depthLeft++;
  }
}

/** A serde error (`DecodeError::Msg`). */
function message(text) {
  return new DecodeError(`Msg(${debugStr(text)})`);
}

/**
 * The number a head byte carries (a length, an integer, a tag), read through the mask of `major`
 * whatever the head's own major type is. Numbers past 2^53 lose precision, which only matters
 * for being larger than any length allowed.
 */
function argument(reader, head, major) {
  const low = head & ~(major << 5) & 0xff;
  if (low <= 0x17) return low;
  if (low <= 0x1b) {
    let value = 0;
    for (const byte of reader.take(1 << (low - 0x18))) value = value * 256 + byte;
    return value;
  }
  throw new DecodeError(`Mismatch { expect_major: ${major}, byte: ${head} }`);
}

/** A definite length, or `null` for an indefinite one. */
function length(reader, head, major) {
  if (head === ((major << 5) | 0x1f)) return null;
  const value = argument(reader, head, major);
  if (value > 0xffffffff) throw new DecodeError('CastOverflow(TryFromIntError(()))');
  return value;
}

/** A text string (definite, or indefinite in chunks), which must be UTF-8. */
function text(reader) {
  const bytes = textBytes(reader, reader.pull());
  const error = utf8Error(bytes);
  if (error !== null) {
    const errorLen = error.errorLen === null ? 'None' : `Some(${error.errorLen})`;
    throw new DecodeError(
      `InvalidUtf8(Utf8Error { valid_up_to: ${error.validUpTo}, error_len: ${errorLen} })`,
    );
  }
  return new TextDecoder().decode(bytes);
}

function textBytes(reader, head) {
  const size = length(reader, head, STRING);
  if (size !== null) return reader.take(size);
  const chunks = [];
  for (let next = reader.pull(); next !== BREAK; next = reader.pull()) {
    reader.stepIn();
    chunks.push(textBytes(reader, next));
    reader.stepOut();
  }
  const joined = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  return joined;
}

/**
 * Where UTF-8 validation fails, as Rust's `Utf8Error` says it: the length of the valid prefix,
 * and of the bad sequence (`null` when the input ends in the middle of a character); `null` for
 * valid UTF-8.
 */
function utf8Error(bytes) {
  let pos = 0;
  while (pos < bytes.length) {
    const first = bytes[pos];
    if (first < 0x80) {
      pos++;
      continue;
    }
    // The width of the character, and the range its second byte must be in (which rules out
    // overlong forms, surrogates and code points past U+10FFFF).
    let width;
    let [low, high] = [0x80, 0xbf];
    if (first >= 0xc2 && first <= 0xdf) {
      width = 2;
    } else if (first >= 0xe0 && first <= 0xef) {
      width = 3;
      if (first === 0xe0) low = 0xa0;
      if (first === 0xed) high = 0x9f;
    } else if (first >= 0xf0 && first <= 0xf4) {
      width = 4;
      if (first === 0xf0) low = 0x90;
      if (first === 0xf4) high = 0x8f;
    } else {
      return { validUpTo: pos, errorLen: 1 };
    }
    for (let index = 1; index < width; index++) {
      if (pos + index >= bytes.length) return { validUpTo: pos, errorLen: null };
      const byte = bytes[pos + index];
      const [min, max] = index === 1 ? [low, high] : [0x80, 0xbf];
      if (byte < min || byte > max) return { validUpTo: pos, errorLen: index };
    }
    pos += width;
  }
  return null;
}

/** Skips one item of any type (`cbor4ii`'s `IgnoredAny`). */
function skip(reader) {
  const head = reader.pull();
  reader.stepIn();
  const major = head >> 5;
  if (major === UNSIGNED || major === NEGATIVE) {
    const low = head & 0x1f;
    if (low > 0x1b) throw new DecodeError(`TypeMismatch { name: "ignore-any", byte: ${head} }`);
    reader.take(low <= 0x17 ? 0 : 1 << (low - 0x18));
  } else if (major >= BYTES && major <= MAP) {
    const items = major === MAP ? 2 : 1;
    const size = length(reader, head, major);
    if (size === null) {
      while (!atBreak(reader)) {
        for (let item = 0; item < items; item++) skip(reader);
      }
    } else if (major === BYTES || major === STRING) {
      reader.take(size);
    } else {
      for (let item = 0; item < size * items; item++) skip(reader);
    }
  } else if (major === TAG) {
    argument(reader, head, TAG);
    skip(reader);
  } else if (head >= 0xf4 && head <= 0xf7) {
    // false, true, null, undefined
  } else if (head >= 0xf9 && head <= 0xfb) {
    reader.take(2 << (head - 0xf9)); // floats of 2, 4 and 8 bytes
  } else {
    throw new DecodeError(`Unsupported { byte: ${head} }`);
  }
  reader.stepOut();
}

/** Whether the next byte ends an indefinite item (and consumes it if so). */
function atBreak(reader) {
  if (reader.pull() === BREAK) return true;
  reader.pos--;
  return false;
}
