"""The report's tests: its helpers (`chromekit`: headless Chromium over DevTools) live
beside this file; --import-mode=importlib puts only tests/ on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
