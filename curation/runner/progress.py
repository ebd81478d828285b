"""A live progress line per phase: units done of total, rows out, elapsed time and ETA.

On a terminal the line is redrawn in place (twice a second and on every update); on another stream (a log file)
each phase writes its final line once; without a stream nothing is written.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """The progress line of the phase that is running (one phase at a time)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.5) -> None:
        self.stream = stream
        self.live = bool(stream is not None and stream.isatty())
        self.interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.label, self.unit = "", "units"
        self.total = self.done = self.resumed = self.rows = 0
        self.started = time.perf_counter()
        self.open = False  # a phase's line is showing

    def start(self, label: str, total: int, unit: str = "units", done: int = 0, rows: int = 0) -> None:
        """Begin the line of phase `label`: `total` `unit`s, `done` of them finished earlier (a resumed run),
        which wrote `rows` rows."""
        with self._lock:
            self.label, self.unit, self.total = label, unit, total
            self.done = self.resumed = done
            self.rows = rows
            self.started = time.perf_counter()
            self.open = True
        if self.live:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def advance(self, units: int = 1, rows: int = 0) -> None:
        """`units` more done, which wrote `rows` rows."""
        with self._lock:
            self.done += units
            self.rows += rows
        if self.live:
            self._draw()

    def finish(self) -> None:
        """End the phase's line (once; a phase that failed ends it too); its totals stay on screen."""
        if not self.open:
            return
        self.open = False
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join()
            self._ticker = None
        if self.stream is not None:
            self._draw(end="\n")

    def line(self) -> str:
        with self._lock:
            elapsed = time.perf_counter() - self.started
            new, left = self.done - self.resumed, max(0, self.total - self.done)
            eta = "done" if not left else f"eta {_clock(elapsed / new * left)}" if new else "eta ?"
            return (
                f"{self.label}: {self.done:,}/{self.total:,} {self.unit}, {self.rows:,} rows out, "
                f"{_clock(elapsed)} elapsed, {eta}"
            )

    def _draw(self, end: str = "") -> None:
        assert self.stream is not None
        self.stream.write(("\r\x1b[2K" if self.live else "") + self.line() + end)
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()
