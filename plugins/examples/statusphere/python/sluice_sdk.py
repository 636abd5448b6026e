"""What the Rust SDK (`plugins/sdk`) does for a plugin, in Python, for plugins without lookups.

A plugin writes one projection: the rows one version of a record produces. This module turns it
into `index-records` outcomes as the Rust SDK does:

- the record body is decoded (DAG-CBOR, or JSON when it starts with `{`);
- a create or update projects the new version; an update or a delete (or a create over a stored
  record) also projects the previous version, and the rows it wrote that the new version does
  not write are deleted (`derive_changes`);
- a previous version that does not decode or project produced nothing, so there is nothing to
  undo;
- errors become `failed` outcomes: `InvalidRecord` and `Unsupported` are skipped by the host,
  `Internal` is parked for a replay after an upgrade.
"""

import json
from dataclasses import dataclass
from typing import Callable

from wit_world.imports import types

import dagcbor


class PluginError(Exception):
    """Why an operation could not be indexed; `str(error)` is the reason."""

    def index_error(self) -> types.IndexError:
        return types.IndexError_Internal(str(self))


class InvalidRecord(PluginError):
    """The record does not match its lexicon: counted, skipped, acknowledged."""

    def index_error(self) -> types.IndexError:
        return types.IndexError_InvalidRecord(str(self))


class Unsupported(PluginError):
    """The plugin does not handle this kind of operation: counted, skipped, acknowledged."""

    def index_error(self) -> types.IndexError:
        return types.IndexError_Unsupported(str(self))


class Internal(PluginError):
    """A bug: the operation is parked for a replay after an upgrade."""


@dataclass
class Version:
    """One version of a record: the new one, or the previous one being undone."""

    op: types.RecordOp
    uri: str
    cid: str
    previous: bool
    value: dict[str, str]


Projection = Callable[[Version], list[types.RowOp]]


def index_records(
    ops: list[types.RecordOp], fields: list[str], project: Projection
) -> list[types.Outcome]:
    """One outcome per operation, for records whose type holds the text `fields`."""
    return [_outcome(lambda: index_record(op, fields, project)) for op in ops]


def index_events(events: list[types.NetworkEvent]) -> list[types.Outcome]:
    """One `unsupported` outcome per event, for plugins that take no events."""
    error = Unsupported("this plugin does not index network events")
    return [types.Outcome_Failed(error.index_error()) for _ in events]


def index_record(
    op: types.RecordOp, fields: list[str], project: Projection
) -> list[types.RowOp]:
    """The row operations of one record operation: the new version's rows, after deleting what
    only the previous version wrote."""
    uri = f"at://{op.did}/{op.collection}/{op.rkey}"
    new: list[types.RowOp] = []
    if op.action != types.Action.DELETE and op.record is not None:
        value = decode(op.record.body, fields)
        new = project(Version(op, uri, op.record.cid, False, value))
    old: list[types.RowOp] = []
    if op.previous is not None:
        try:
            value = decode(op.previous.body, fields)
            old = project(Version(op, uri, op.previous.cid, True, value))
        except PluginError:
            old = []
    return derive_changes(old, new)


def decode(body: bytes, fields: list[str]) -> dict[str, str]:
    """The text `fields` of a record body (DAG-CBOR, or JSON when it starts with `{`)."""
    if not body:
        raise InvalidRecord("empty record body")
    if body[0] == ord("{"):
        return _decode_json(body, fields)
    try:
        return dagcbor.decode_fields(body, fields)
    except dagcbor.DecodeError as error:
        raise InvalidRecord(str(error)) from None


def derive_changes(old: list[types.RowOp], new: list[types.RowOp]) -> list[types.RowOp]:
    """What takes the database from the rows of `old` to those of `new`: a row `old` upserted and
    `new` does not (same table, same key) is deleted, an increment of `old` is reversed, then
    every operation of `new` follows. Deletes of `old` cannot be undone and are ignored."""
    new_keys = [
        (op.value.table, _key_cells(op.value))
        for op in new
        if isinstance(op, types.RowOp_Upsert)
    ]
    changes: list[types.RowOp] = []
    for op in old:
        if isinstance(op, types.RowOp_Upsert):
            key = (op.value.table, _key_cells(op.value))
            if key not in new_keys:
                changes.append(types.RowOp_Delete(types.Delete(key[0], key[1])))
        elif isinstance(op, types.RowOp_Increment):
            step = op.value
            delta = min(-step.delta, 2**63 - 1)  # Rust's saturating negation
            reverse = types.Increment(step.table, step.key, step.column, delta)
            changes.append(types.RowOp_Increment(reverse))
    return changes + new


def upsert(
    table: str, key: dict[str, types.Value], columns: dict[str, types.Value]
) -> types.RowOp:
    """Inserts or overwrites the row of `table` with this `key` (a declared primary or unique
    key), setting `columns` too."""
    assignments = [
        types.Assignment(column, value, types.Merge.SET)
        for column, value in (key | columns).items()
    ]
    return types.RowOp_Upsert(types.Upsert(table, list(key), assignments))


def text_column(name: str) -> types.Column:
    """A text column that must hold a value."""
    return types.Column(name, types.ColumnKind.TEXT, False, None)


def timestamp_column(name: str) -> types.Column:
    """A timestamp column that must hold a value."""
    return types.Column(name, types.ColumnKind.TIMESTAMP, False, None)


def _days_in_month(year: int, month: int) -> int:
    """The days of `month` (1-12) in `year` (Gregorian leap years)."""
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def is_datetime(text: str) -> bool:
    """Whether `text` is an atproto datetime: RFC 3339 with a `T`, seconds, an optional fraction
    and a `Z` or `+HH:MM` / `-HH:MM` offset (`2024-11-05T10:00:00.000Z`). The host refuses
    timestamps that do not parse, so check a record's datetimes before writing them."""
    data = text.encode()
    shape = "dddd-dd-ddTdd:dd:dd"
    if len(data) < len(shape):
        return False
    for byte, expected in zip(data, shape.encode()):
        if expected == ord("d") and not 0x30 <= byte <= 0x39:
            return False
        if expected != ord("d") and byte != expected:
            return False
    month, day, hour, minute, second = (int(data[i : i + 2]) for i in (5, 8, 11, 14, 17))
    if not (1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 60):
        return False
    if not 1 <= day <= _days_in_month(int(data[0:4]), month):
        return False
    rest = data[19:]
    if rest.startswith(b"."):
        digits = len(rest[1:]) - len(rest[1:].lstrip(b"0123456789"))
        if digits == 0:
            return False
        rest = rest[1 + digits :]
    if rest == b"Z":
        return True
    return (
        len(rest) == 6
        and rest[0:1] in (b"+", b"-")
        and rest[3:4] == b":"
        and (rest[1:3] + rest[4:6]).isdigit()
    )


def _key_cells(upsert: types.Upsert) -> list[types.Cell]:
    """The conflict-key cells of an upsert, in key order."""
    values = {assignment.column: assignment.value for assignment in upsert.assignments}
    return [
        types.Cell(column, values.get(column, types.Value_Null())) for column in upsert.conflict
    ]


def _decode_json(body: bytes, fields: list[str]) -> dict[str, str]:
    """The text `fields` of a JSON body. Valid bodies decode as in the Rust SDK; the reason
    given for an invalid one is worded differently (Python's JSON parser is not serde_json)."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except ValueError as error:
        raise InvalidRecord(str(error)) from None
    if not isinstance(value, dict):
        raise InvalidRecord("invalid type: expected struct")
    for field in fields:
        if field not in value:
            raise InvalidRecord(f"missing field `{field}`")
        if not isinstance(value[field], str):
            raise InvalidRecord(f"invalid type for `{field}`: expected a string")
        if not value[field].isascii() and not _is_well_formed(value[field]):
            raise InvalidRecord(f"`{field}` holds a lone surrogate")
    return {field: value[field] for field in fields}


def _outcome(run: Callable[[], list[types.RowOp]]) -> types.Outcome:
    try:
        return types.Outcome_Indexed(types.Indexed(run(), []))
    except PluginError as error:
        return types.Outcome_Failed(error.index_error())


def _is_well_formed(text: str) -> bool:
    """Whether `text` is valid Unicode (JSON escapes can make lone surrogates)."""
    try:
        text.encode()
        return True
    except UnicodeEncodeError:
        return False


def _refuse_constant(name: str) -> None:
    """`NaN` and `Infinity` are not JSON (Python's parser accepts them)."""
    raise ValueError(f"{name} is not a JSON value")
