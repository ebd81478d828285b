"""Dedup test helpers live in `dedup_corpus.py` next to this file; make it importable under importlib mode."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
