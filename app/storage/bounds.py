"""The bounds of what the history holds, checked where values come in and made safe where they are read back.

Two edges, one set of limits:

- **Coming in** (an import file): a time must be a date Moss can show (1970 to 3000), a count a whole number
  SQLite and the display can hold, a name or id short, a nested object shallow. A file breaking them is
  refused whole with the place named (Moss JSON) or the value left out (ChatGPT's export, which is read
  tolerantly), so that nothing unusable is ever written.
- **Read back** (a row of the database): a database written by hand, by another program, or recovered from
  damage can still hold anything SQLite's loose typing allows. Every value read is coerced into its kind and
  range here, so that one odd row shows as odd rather than breaking every command that lists it
  (``datetime.fromtimestamp(1e30)`` raises, and would do so for the whole list).
"""

from __future__ import annotations

import math
import re

EARLIEST_TIME = 0.0  # 1970-01-01 (Windows cannot show earlier times)
LATEST_TIME = 32503680000.0  # 3000-01-01 UTC: far enough, and every platform shows it
TIME_RANGE = "a Unix time from 1970 to 3000"
MAX_COUNT = 2**31 - 1  # tokens, messages left out: far above any real value, far below SQLite's limit
MAX_RATE = 1e9  # tokens per second, seconds to the first token
MAX_ROW_ID = 2**63 - 1  # SQLite's largest row id: a bigger number cannot name a row
MAX_NAME_CHARS = 1000  # ids, titles, model names, sources
MAX_NESTING = 16  # levels in a conversation's sampling object
MAX_SAMPLING_CHARS = 100_000  # the sampling object as JSON
_SURROGATE = re.compile("[\ud800-\udfff]")


def sane_time(value: object) -> float | None:
    """``value`` as a time Moss can show, or None when it is not a number in the range."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int beyond a float's range
            return None
        if math.isfinite(number) and EARLIEST_TIME <= number <= LATEST_TIME:
            return number
    return None


def sane_count(value: object) -> int | None:
    """``value`` as a count from 0 to :data:`MAX_COUNT`, or None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    return None


def sane_rate(value: object) -> float | None:
    """``value`` as a non-negative finite number up to :data:`MAX_RATE`, or None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            return None
        if math.isfinite(number) and 0.0 <= number <= MAX_RATE:
            return number
    return None


def valid_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD: JSON can spell them ("\\ud800"), but they are no
    Unicode, and SQLite (like any UTF-8 writer) refuses a string holding one."""
    return _SURROGATE.sub("\ufffd", text)


def valid_optional_text(text: str | None) -> str | None:
    return None if text is None else valid_text(text)


def row_id(text: str) -> int | None:
    """A row id typed by a person ("12"), or None when ``text`` is not one (a word, "²", 10^30)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ROW_ID else None


def shallow(value: object, depth: int = MAX_NESTING) -> bool:
    """Whether a parsed JSON value nests no deeper than ``depth`` (checked without recursion: a file can nest
    a thousand levels, and writing such a value back as JSON would exceed Python's recursion limit)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            if level >= depth:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return True


# -- reading rows back ----------------------------------------------------------------------------------


def stored_time(value: object) -> float:
    """A time read from the database: a number brought into the range, anything else the earliest time."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf if value > 0 else -math.inf
        if not math.isnan(number):
            return min(max(number, EARLIEST_TIME), LATEST_TIME)
    return EARLIEST_TIME


def stored_text(value: object) -> str:
    """Text read from the database: bytes (a BLOB) decoded, a missing value empty, a number as digits."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def stored_optional_text(value: object) -> str | None:
    return None if value is None else stored_text(value)


def stored_id(value: object) -> int | None:
    """A row id read from the database (None for a missing or unusable one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ROW_ID else None
