"""Bounds on what is handed to an HTML extractor: size, nesting depth, unclosed formatting tags, time per page.

Parsers slow down badly on some structures (measured with Resiliparse: 5,000 nested `<div>`s take 1.9 s to
extract and 20,000 take 60 s; 350,000 unclosed formatting tags take 35 s to parse), so such pages are refused
before the slow part. Unclosed formatting tags (`<b>`, `<i>`, `<a>`, `<font>`, ...) are counted by one regex
scan before parsing; the depth is read from the parsed tree (a child-combinator chain as long as the cap).
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
from collections.abc import Iterator

_FORMATTING = re.compile(
    r"<(/?)(?:a|b|big|code|em|font|i|nobr|s|small|strike|strong|tt|u)[\s>]", re.IGNORECASE
)


# Pages with fewer tags than these are not checked: they cannot be slow (measured: 3,000 nested tags extract in
# ~0.8 s, 20,000 unclosed formatting tags parse in ~0.5 s), and checking every page would add ~20 % to extraction.
DEPTH_CHECK_TAGS = 3_000
UNCLOSED_CHECK_TAGS = 20_000


def unclosed_formatting(html: str) -> int:
    """Formatting-element start tags without an end tag (what makes the HTML parser's bookkeeping quadratic)."""
    tags = _FORMATTING.findall(html)
    closes = tags.count("/")
    return len(tags) - 2 * closes


def deeper_than(tree: object, depth: int) -> bool:
    """Whether a parsed Resiliparse `HTMLTree` nests elements more than `depth` levels."""
    return tree.document.query_selector(" > ".join(["*"] * (depth + 1))) is not None


class TimeBudgetExceeded(Exception):
    """One page took longer than its extraction budget."""


@contextlib.contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise TimeBudgetExceeded in the block after `seconds` (a real-time timer; main thread only, elsewhere the
    block runs unbounded). Code inside C extensions is interrupted when it next returns to Python."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise TimeBudgetExceeded

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
