// What the Rust SDK (`plugins/sdk`) does for a plugin, in JavaScript, for plugins without lookups.
//
// A plugin writes one projection: the rows one version of a record produces. This module turns
// it into `index-records` outcomes as the Rust SDK does:
//
// - the record body is decoded (DAG-CBOR, or JSON when it starts with `{`);
// - a create or update projects the new version; an update or a delete (or a create over a
//   stored record) also projects the previous version, and the rows it wrote that the new
//   version does not write are deleted (`deriveChanges`);
// - a previous version that does not decode or project produced nothing, so there is nothing to
//   undo;
// - errors become `failed` outcomes: `InvalidRecord` and `Unsupported` are skipped by the host,
//   `Internal` is parked for a replay after an upgrade.
//
// Values of the contract are plain objects, as componentize-js maps WIT: a variant is
// `{ tag: 'text', val: 'hi' }`, an enum a string (`'dag-cbor'`), an `option` a value or
// `undefined`, a `list<u8>` a `Uint8Array`, an `s64` a `BigInt`.

import { DecodeError, decodeFields } from './dagcbor.js';

/** Why an operation could not be indexed. `tag` is the contract's `index-error` case. */
export class PluginError extends Error {
  get tag() {
    return 'internal';
  }
}

/** The record does not match its lexicon: counted, skipped, acknowledged. */
export class InvalidRecord extends PluginError {
  get tag() {
    return 'invalid-record';
  }
}

/** The plugin does not handle this kind of operation: counted, skipped, acknowledged. */
export class Unsupported extends PluginError {
  get tag() {
    return 'unsupported';
  }
}

/** A bug: the operation is parked for a replay after an upgrade. */
export class Internal extends PluginError {}

/**
 * One outcome per operation, for records whose type holds the text `fields`. `project(version)`
 * returns the row operations of one version: `{ op, uri, cid, previous, value }`, `value`
 * holding the fields.
 */
export function indexRecords(ops, fields, project) {
  return ops.map((op) => outcome(() => indexRecord(op, fields, project)));
}

/** One `unsupported` outcome per event, for plugins that take no events. */
export function indexEvents(events) {
  const error = { tag: 'unsupported', val: 'this plugin does not index network events' };
  return events.map(() => ({ tag: 'failed', val: error }));
}

/**
 * The row operations of one record operation: the new version's rows, after deleting what only
 * the previous version wrote.
 */
export function indexRecord(op, fields, project) {
  const uri = `at://${op.did}/${op.collection}/${op.rkey}`;
  let rows = [];
  if (op.action !== 'delete' && op.record !== undefined) {
    const value = decode(op.record.body, fields);
    rows = project({ op, uri, cid: op.record.cid, previous: false, value });
  }
  let old = [];
  if (op.previous !== undefined) {
    try {
      const value = decode(op.previous.body, fields);
      old = project({ op, uri, cid: op.previous.cid, previous: true, value });
    } catch (error) {
      if (!(error instanceof PluginError)) throw error;
      old = [];
    }
  }
  return deriveChanges(old, rows);
}

/** The text `fields` of a record body (DAG-CBOR, or JSON when it starts with `{`). */
export function decode(body, fields) {
  if (body.length === 0) throw new InvalidRecord('empty record body');
  if (body[0] === 0x7b) return decodeJson(body, fields);
  try {
    return decodeFields(body, fields);
  } catch (error) {
    if (error instanceof DecodeError) throw new InvalidRecord(error.message);
    throw error;
  }
}

/**
 * What takes the database from the rows of `old` to those of `rows`: a row `old` upserted and
 * `rows` does not (same table, same key) is deleted, an increment of `old` is reversed, then
 * every operation of `rows` follows. Deletes of `old` cannot be undone and are ignored.
 */
export function deriveChanges(old, rows) {
  const keptKeys = rows
    .filter((op) => op.tag === 'upsert')
    .map((op) => keyText(op.val.table, keyCells(op.val)));
  const changes = [];
  for (const op of old) {
    if (op.tag === 'upsert') {
      const matching = keyCells(op.val);
      if (!keptKeys.includes(keyText(op.val.table, matching))) {
        changes.push({ tag: 'delete', val: { table: op.val.table, matching } });
      }
    } else if (op.tag === 'increment') {
      // Rust's saturating negation: the most negative s64 becomes the most positive.
      const delta = op.val.delta === -(2n ** 63n) ? 2n ** 63n - 1n : -op.val.delta;
      changes.push({ tag: 'increment', val: { ...op.val, delta } });
    }
  }
  return changes.concat(rows);
}

/**
 * Inserts or overwrites the row of `table` with this `key` (a declared primary or unique key),
 * setting `columns` too. Both are objects of column name to value.
 */
export function upsert(table, key, columns) {
  const assignments = Object.entries({ ...key, ...columns }).map(([column, value]) => ({
    column,
    value,
    merge: 'set',
  }));
  return { tag: 'upsert', val: { table, conflict: Object.keys(key), assignments } };
}

/** A text value. */
export function text(val) {
  return { tag: 'text', val };
}

/** A timestamp value (RFC 3339 text). */
export function timestamp(val) {
  return { tag: 'timestamp', val };
}

/** A column of this kind that must hold a value. */
export function column(name, kind) {
  return { name, kind, nullable: false };
}

/** The days of `month` (1-12) in `year` (Gregorian leap years). */
function daysInMonth(year, month) {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Whether `value` is an atproto datetime: RFC 3339 with a `T`, seconds, an optional fraction and
 * a `Z` or `+HH:MM` / `-HH:MM` offset (`2024-11-05T10:00:00.000Z`). The host refuses timestamps
 * that do not parse, so check a record's datetimes before writing them.
 */
export function isDatetime(value) {
  const bytes = new TextEncoder().encode(value);
  const isDigit = (byte) => byte >= 0x30 && byte <= 0x39;
  const shape = 'dddd-dd-ddTdd:dd:dd';
  if (bytes.length < shape.length) return false;
  for (let index = 0; index < shape.length; index++) {
    const expected = shape.charCodeAt(index);
    const ok = shape[index] === 'd' ? isDigit(bytes[index]) : bytes[index] === expected;
    if (!ok) return false;
  }
  const two = (index) => (bytes[index] - 0x30) * 10 + (bytes[index + 1] - 0x30);
  const [month, day, hour, minute, second] = [5, 8, 11, 14, 17].map(two);
  const year = two(0) * 100 + two(2);
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 60) return false;
  if (day < 1 || day > daysInMonth(year, month)) return false;
  let rest = bytes.subarray(19);
  if (rest[0] === 0x2e) {
    let digits = 0;
    while (digits + 1 < rest.length && isDigit(rest[digits + 1])) digits++;
    if (digits === 0) return false;
    rest = rest.subarray(1 + digits);
  }
  if (rest.length === 1 && rest[0] === 0x5a) return true;
  return (
    rest.length === 6 &&
    (rest[0] === 0x2b || rest[0] === 0x2d) &&
    rest[3] === 0x3a &&
    [1, 2, 4, 5].every((index) => isDigit(rest[index]))
  );
}

/** The conflict-key cells of an upsert, in key order. */
function keyCells(upsert) {
  return upsert.conflict.map((name) => {
    const assignment = upsert.assignments.find((candidate) => candidate.column === name);
    return { column: name, value: assignment ? assignment.value : { tag: 'null' } };
  });
}

/** A table and key cells as text, to compare keys (`BigInt`s included). */
function keyText(table, cells) {
  return JSON.stringify([table, cells], (_, value) =>
    typeof value === 'bigint' ? `${value}n` : value,
  );
}

/**
 * The text `fields` of a JSON body. Valid bodies decode as in the Rust SDK; the reason given for
 * an invalid one is worded differently (JavaScript's JSON parser is not serde_json).
 */
function decodeJson(body, fields) {
  let value;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (error) {
    throw new InvalidRecord(String(error.message));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidRecord('invalid type: expected struct');
  }
  for (const field of fields) {
    if (!Object.hasOwn(value, field)) throw new InvalidRecord(`missing field \`${field}\``);
    if (typeof value[field] !== 'string') {
      throw new InvalidRecord(`invalid type for \`${field}\`: expected a string`);
    }
    if (!value[field].isWellFormed()) {
      throw new InvalidRecord(`\`${field}\` holds a lone surrogate`);
    }
  }
  return Object.fromEntries(fields.map((field) => [field, value[field]]));
}

function outcome(run) {
  try {
    return { tag: 'indexed', val: { ops: run(), awaits: [] } };
  } catch (error) {
    if (!(error instanceof PluginError)) throw error;
    return { tag: 'failed', val: { tag: error.tag, val: error.message } };
  }
}
