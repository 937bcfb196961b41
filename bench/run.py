"""Run every benchmark in bench/ and print one table.

    uv run python bench/run.py            # all benchmarks
    uv run python bench/run.py gate lock  # only modules whose name contains a word

Each `bench/bench_*.py` module has `run() -> list[dict]`, one dict per measurement with
keys `benchmark`, `metric`, `value`, `target` and `ok` (bool, or None when there is no
target). Ratios are measured side by side in one run: these machines are shared and
noisy, so absolute numbers vary but ratios hold.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    words = [a for a in argv if not a.startswith("-")]
    rows: list[dict[str, object]] = []
    for path in sorted(HERE.glob("bench_*.py")):
        if words and not any(w in path.stem for w in words):
            continue
        module = _load(path)
        if getattr(module, "EXPLICIT", False) and not words:
            continue  # a long one (the whole suite, N times): only when named
        print(f"running {path.stem} …", file=sys.stderr, flush=True)
        rows.extend(module.run())
    width = max((len(str(r["benchmark"])) for r in rows), default=10)
    print(f"{'benchmark':<{width}}  {'metric':<34} {'value':>12}  {'target':<14} ok")
    for r in rows:
        ok = {True: "yes", False: "NO", None: "-"}[r.get("ok")]  # type: ignore[index]
        value = r["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(
            f"{r['benchmark']!s:<{width}}  {r['metric']!s:<34} {shown:>12}  "
            f"{r.get('target', '')!s:<14} {ok}"
        )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(rows, indent=2))
    return 1 if any(r.get("ok") is False for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
