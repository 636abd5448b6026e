"""Decoding a DAG-CBOR record body into its text fields, failing as the Rust SDK fails.

The Rust SDK decodes records with `serde_ipld_dagcbor` 0.6 (built on `cbor4ii` 0.2), and an
undecodable record becomes `invalid-record` with that decoder's error as its message (`Eof`,
`Mismatch { expect_major: 5, byte: 97 }`, `Msg("missing field `status`")`, ...). To give the same
outcome for every body, this module takes the same steps in the same order, quirks included:

- a head byte's number is read through a mask of its expected major type rather than checked
  against it, so the integer `1` reads as a map of one entry;
- fields the record type does not name are skipped leniently (any CBOR item, any tag), but
  nesting deeper than 256 levels is refused;
- lengths must fit the 32-bit `usize` of `wasm32`;
- a field named twice, a field missing or bytes after the record are errors.
"""

from rust_debug import debug_str

UNSIGNED, NEGATIVE, BYTES, STRING, ARRAY, MAP, TAG, SIMPLE = range(8)
BREAK = 0xFF


class DecodeError(Exception):
    """A body that does not decode; `str(error)` is the Rust decoder's message."""


def decode_fields(body: bytes, fields: list[str]) -> dict[str, str]:
    """Decodes a map holding (at least) the text `fields`, as serde's derived `Deserialize` of a
    struct of `String`s does; other entries are skipped."""
    reader = _Reader(body)
    reader.step_in()
    count = _length(reader, reader.pull(), MAP)
    if count is None:
        raise DecodeError("IndefiniteSize")
    found: dict[str, str] = {}
    for _ in range(count):
        key = _text(reader)
        if key not in fields:
            _skip(reader)
        elif key in found:
            raise _message(f"duplicate field `{key}`")
        else:
            found[key] = _text(reader)
    for field in fields:
        if field not in found:
            raise _message(f"missing field `{field}`")
    reader.step_out()
    if reader.pos < len(reader.data):
        raise DecodeError("TrailingData")
    return found


class _Reader:
    """The bytes of a body, read front to back, with the decoder's nesting budget."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.depth_left = 256

    def pull(self) -> int:
        if self.pos >= len(self.data):
            raise DecodeError("Eof")
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, count: int) -> bytes:
        if len(self.data) - self.pos < count:
            raise DecodeError("Eof")
        self.pos += count
        return self.data[self.pos - count : self.pos]

    def step_in(self) -> None:
        if self.depth_left == 0:
            raise DecodeError("DepthLimit")
        self.depth_left -= 1

    def step_out(self) -> None:
        self.depth_left += 1


def _message(text: str) -> DecodeError:
    """A serde error (`DecodeError::Msg`)."""
    return DecodeError(f"Msg({debug_str(text)})")


def _argument(reader: _Reader, head: int, major: int) -> int:
    """The number a head byte carries (a length, an integer, a tag), read through the mask of
    `major` whatever the head's own major type is."""
    low = head & ~(major << 5) & 0xFF
    if low <= 0x17:
        return low
    if low <= 0x1B:
        return int.from_bytes(reader.take(1 << (low - 0x18)), "big")
    raise DecodeError(f"Mismatch {{ expect_major: {major}, byte: {head} }}")


def _length(reader: _Reader, head: int, major: int) -> int | None:
    """A definite length, or `None` for an indefinite one."""
    if head == (major << 5) | 0x1F:
        return None
    length = _argument(reader, head, major)
    if length > 0xFFFF_FFFF:
        raise DecodeError("CastOverflow(TryFromIntError(()))")
    return length


def _text(reader: _Reader) -> str:
    """A text string (definite, or indefinite in chunks), which must be UTF-8."""
    data = _text_bytes(reader, reader.pull())
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        # Rust's `Utf8Error`: where the valid prefix ends, and how long the bad sequence is
        # (`None` when the input ends in the middle of a character).
        if error.reason == "unexpected end of data":
            error_len = "None"
        else:
            error_len = f"Some({error.end - error.start})"
        raise DecodeError(
            f"InvalidUtf8(Utf8Error {{ valid_up_to: {error.start}, error_len: {error_len} }})"
        ) from None


def _text_bytes(reader: _Reader, head: int) -> bytes:
    length = _length(reader, head, STRING)
    if length is not None:
        return reader.take(length)
    chunks = []
    while (head := reader.pull()) != BREAK:
        reader.step_in()
        chunks.append(_text_bytes(reader, head))
        reader.step_out()
    return b"".join(chunks)


def _skip(reader: _Reader) -> None:
    """Skips one item of any type (`cbor4ii`'s `IgnoredAny`)."""
    head = reader.pull()
    reader.step_in()
    major = head >> 5
    if major in (UNSIGNED, NEGATIVE):
        low = head & 0x1F
        if low > 0x1B:
            raise DecodeError(f'TypeMismatch {{ name: "ignore-any", byte: {head} }}')
        reader.take(0 if low <= 0x17 else 1 << (low - 0x18))
    elif major in (BYTES, STRING, ARRAY, MAP):
        items = 2 if major == MAP else 1
        length = _length(reader, head, major)
        if length is None:
            while not _at_break(reader):
                for _ in range(items):
                    _skip(reader)
        elif major in (BYTES, STRING):
            reader.take(length)
        else:
            for _ in range(length * items):
                _skip(reader)
    elif major == TAG:
        _argument(reader, head, TAG)
        _skip(reader)
    elif 0xF4 <= head <= 0xF7:  # false, true, null, undefined
        pass
    elif head in (0xF9, 0xFA, 0xFB):  # floats of 2, 4 and 8 bytes
        reader.take(2 << (head - 0xF9))
    else:
        raise DecodeError(f"Unsupported {{ byte: {head} }}")
    reader.step_out()


def _at_break(reader: _Reader) -> bool:
    """Whether the next byte ends an indefinite item (and consumes it if so)."""
    if reader.pull() == BREAK:
        return True
    reader.pos -= 1
    return False
