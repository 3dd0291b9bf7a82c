"""The vocabulary: sorted distinct characters (Unicode code points) <-> integer ids.

It is stored inside every checkpoint, so a model never needs the corpus it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chargen.errors import ChargenError

ITEM_BOUNDARY = "\n"  # line mode: what every item is read after, and what ends it (chargen.data.items)


@dataclass(frozen=True)
class Vocab:
    chars: str  # the distinct characters, sorted by code point; id i is chars[i]
    _lookup: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if list(self.chars) != sorted(set(self.chars)):
            raise ValueError("vocabulary characters must be distinct and sorted")
        object.__setattr__(self, "_lookup", {ch: i for i, ch in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls("".join(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    @property
    def dtype(self) -> np.dtype:
        """The smallest unsigned integer type that holds every id: a corpus costs 1-4 bytes a character."""
        if self.size <= 1 << 8:
            return np.dtype(np.uint8)
        if self.size <= 1 << 16:
            return np.dtype(np.uint16)
        return np.dtype(np.int32)

    def __contains__(self, ch: str) -> bool:
        return ch in self._lookup

    def unknown(self, text: str) -> list[str]:
        """The characters of `text` this vocabulary lacks, sorted."""
        return sorted(set(text) - self._lookup.keys())

    def encode(self, text: str) -> np.ndarray:
        missing = self.unknown(text)
        if missing:
            raise ChargenError(
                f"the model has never seen {describe_chars(missing)}; "
                "remove them or train on text that has them"
            )
        return np.fromiter((self._lookup[ch] for ch in text), dtype=self.dtype, count=len(text))

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def code_point_table(self) -> np.ndarray:
        """A table from code point to id (-1 where absent), for encoding large texts with NumPy."""
        table = np.full(max(map(ord, self.chars), default=0) + 1, -1, dtype=np.int32)
        table[[ord(ch) for ch in self.chars]] = np.arange(self.size, dtype=np.int32)
        return table


def describe_chars(chars: list[str], limit: int = 12, ascii_only: bool = False) -> str:
    """A readable list of characters for error messages: 'é' (U+00E9), '\\x00' (U+0000), ...

    `ascii_only` leaves out the characters themselves, for a terminal that cannot show them."""
    shown = ", ".join(f"U+{ord(ch):04X}" if ascii_only else f"{ch!r} (U+{ord(ch):04X})" for ch in chars[:limit])
    more = f" and {len(chars) - limit} more" if len(chars) > limit else ""
    noun = "character" if len(chars) == 1 else "characters"
    return f"{len(chars)} {noun}: {shown}{more}"
