"""Run every benchmark in this folder, one after another; prints one JSON list of their documents.

A benchmark is a ``bench/*.py`` script with a top-level ``main`` function (this one excepted),
run as its own process so none inherits another's warm caches or open connections. Its stdout
must be one JSON document; its stderr passes through. A benchmark that fails or prints something
else appears in the list as ``{"bench": name, "error": ...}`` and makes the exit status 1.

Usage: .venv/bin/python bench/run_all.py
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def has_main(path: Path) -> bool:
    tree = ast.parse(path.read_text(), filename=str(path))
    return any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)


def benchmarks() -> list[Path]:
    return [p for p in sorted(HERE.glob("*.py")) if p.name != Path(__file__).name and has_main(p)]


def run(path: Path) -> dict[str, Any]:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(path)], stdout=subprocess.PIPE, text=True, check=False
    )
    seconds = round(time.monotonic() - began, 1)
    if done.returncode != 0:
        return {"bench": path.stem, "error": f"exit status {done.returncode}", "seconds": seconds}
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        return {"bench": path.stem, "error": f"stdout is not one JSON document: {exc}"}
    if not isinstance(document, dict):
        return {"bench": path.stem, "error": "stdout is JSON but not an object"}
    return {"bench": path.stem, **document, "wall_seconds": seconds}


def main() -> None:
    results = []
    for path in benchmarks():
        print(f"running {path.name}", file=sys.stderr, flush=True)
        results.append(run(path))
    print(json.dumps(results, indent=2))
    if any("error" in result for result in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
