"""mypy against a checked-in baseline: the type errors the code had when mypy was adopted may stay,
a new one fails.

    python scripts/mypy_baseline.py            check (exit 1 on an error not in the baseline)
    python scripts/mypy_baseline.py --update   rewrite the baseline after fixing errors or moving files

An error is keyed by file, error code and message, without its line number, so editing a file
does not churn the baseline; a file may carry as many errors of one kind as the baseline lists,
never more. `--update` refuses to write a baseline with more errors than the one it replaces,
so the baseline only shrinks (moving a module renames its entries; their number stays).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "mypy-baseline.txt"
_ERROR = re.compile(r"^(?P<file>[^:\n]+):\d+:(?:\d+:)? error: (?P<message>.*?)(?:  \[(?P<code>[\w-]+)\])?$")


def current_errors() -> tuple[Counter[str], str]:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-pretty", "--no-error-summary"], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode not in (0, 1) or result.stderr.strip():
        raise SystemExit(f"mypy failed to run (exit {result.returncode}):\n{result.stderr}{result.stdout}")
    found: Counter[str] = Counter()
    for line in result.stdout.splitlines():
        match = _ERROR.match(line)
        if match:
            found[f"{match['file']}: [{match['code'] or 'misc'}] {match['message']}"] += 1
    return found, result.stdout


def read_baseline() -> Counter[str]:
    if not BASELINE.exists():
        return Counter()
    lines = [line for line in BASELINE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return Counter(lines)


def main(argv: list[str]) -> int:
    found, output = current_errors()
    baseline = read_baseline()
    if "--update" in argv:
        if sum(found.values()) > sum(baseline.values()) and baseline:
            print(
                f"mypy: {sum(found.values())} errors, more than the baseline's {sum(baseline.values())}; "
                "fix the new ones instead of recording them",
                file=sys.stderr,
            )
            return 1
        header = "# mypy errors accepted when mypy was adopted (scripts/mypy_baseline.py); it may only shrink.\n"
        BASELINE.write_text(header + "".join(f"{key}\n" for key in sorted(found.elements())), encoding="utf-8")
        print(f"mypy: baseline written, {sum(found.values())} errors")
        return 0
    new = found - baseline
    if new:
        keys = set(new)
        print("mypy: errors not in mypy-baseline.txt:", file=sys.stderr)
        for line in output.splitlines():
            match = _ERROR.match(line)
            if match and f"{match['file']}: [{match['code'] or 'misc'}] {match['message']}" in keys:
                print("  " + line, file=sys.stderr)
        return 1
    fixed = sum((baseline - found).values())
    note = f"; {fixed} fixed, shrink the baseline with --update" if fixed else ""
    print(f"mypy: {sum(found.values())} known errors, none new{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
