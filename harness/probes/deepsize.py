"""Deep size of a live object graph in bytes, following containers and instances.

``sys.getsizeof`` counts a container's own header only, and some size libraries stop at a
deque: this follows deque items, dict keys and values, sequences, sets, instance ``__dict__``
and ``__slots__``, counting each object once. Modules, classes and functions are not
followed (they belong to the program, not to the data).
"""

from __future__ import annotations

import sys
import types
from collections import deque
from typing import Any

__all__ = ["deep_size"]

_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
           types.CodeType, types.FrameType)


def deep_size(root: Any, seen: set[int] | None = None) -> int:
    """Bytes reachable from ``root`` not already in ``seen`` (pass one set to several calls
    to count shared objects once)."""
    seen = set() if seen is None else seen
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _OPAQUE):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj, 0)
        if isinstance(obj, (str, bytes, bytearray, int, float, bool, type(None))):
            continue
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset, deque)):
            stack.extend(obj)
        else:
            if hasattr(obj, "__dict__"):
                stack.append(obj.__dict__)
            for cls in type(obj).__mro__:
                for slot in getattr(cls, "__slots__", ()):
                    if isinstance(slot, str) and hasattr(obj, slot):
                        stack.append(getattr(obj, slot))
    return total
