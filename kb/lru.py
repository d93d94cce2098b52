"""A least-recently-used map bounded both in entries and in bytes (the response and demo caches).

What an entry weighs is the caller's to say (``put``'s ``size``), usually ``weight`` of its key
and of what its value holds: their sizes as Python objects, plus ``ENTRY_OVERHEAD`` for the
bookkeeping every entry costs whatever its size.
"""

import math
import sys
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

# What an entry costs beyond its key and the objects its value holds: the map's slot and link,
# the (value, size) pair and the value object itself (about 200 bytes measured with tracemalloc
# in tests/kb/test_cache_bounds.py; rounded up).
ENTRY_OVERHEAD = 512


def weight(*parts: object) -> int:
    """The bytes an entry holding ``parts`` is counted as: each part's size as a Python object
    (a tuple or list with its items), and ``ENTRY_OVERHEAD``. Objects that entries share (small
    integers, None) are counted in each: the bound errs on the safe side."""
    return ENTRY_OVERHEAD + sum(map(_size, parts))


def _size(part: object) -> int:
    inner = sum(map(_size, part)) if isinstance(part, tuple | list) else 0
    return sys.getsizeof(part) + inner


class BoundedLRU(Generic[V]):
    def __init__(self, *, max_entries: int, max_bytes: int | None) -> None:
        """``max_bytes`` None: bounded by entries only. Either bound 0: nothing is kept."""
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        """The sum of the kept entries' sizes."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> V | None:
        kept = self._entries.get(key)
        if kept is None:
            return None
        self._entries.move_to_end(key)
        return kept[0]

    def put(self, key: Hashable, value: V, size: int) -> None:
        """Keep ``value``, dropping the least recently used entries to make room; a value
        larger than the whole byte bound is not kept."""
        budget = math.inf if self._max_bytes is None else self._max_bytes
        if self._max_entries <= 0 or size > budget:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._entries[key] = (value, size)
        self._bytes += size
        while len(self._entries) > self._max_entries or self._bytes > budget:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
