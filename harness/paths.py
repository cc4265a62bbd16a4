"""Where the project keeps its corpus and its reports (the checkout's own directories)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT / "fixtures"
DEFAULT_REPORTS = ROOT / "reports"
