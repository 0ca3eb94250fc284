#!/usr/bin/env python3
"""Prints criterion results as a markdown table with ratios.

Usage: benches/scripts/table.py GROUP_PREFIX BASELINE [TARGET_DIR]

Reads target/criterion/<group>/<function>/new/estimates.json for every group whose
name starts with GROUP_PREFIX (criterion writes "verify/HS256" as "verify_HS256"),
and prints one row per group: each function's median, and its ratio to BASELINE
(the function named BASELINE in the same group, e.g. "token-core").
"""
import json
import pathlib
import sys


def fmt(ns: float) -> str:
    if ns >= 1_000_000:
        return f"{ns / 1_000_000:.2f} ms"
    if ns >= 1_000:
        return f"{ns / 1_000:.2f} µs"
    return f"{ns:.0f} ns"


def main() -> None:
    prefix, baseline = sys.argv[1], sys.argv[2]
    root = pathlib.Path(sys.argv[3] if len(sys.argv) > 3 else "target") / "criterion"
    groups = {}
    for estimates in sorted(root.glob("*/*/new/estimates.json")):
        group, function = estimates.parts[-4], estimates.parts[-3]
        if not group.startswith(prefix.replace("/", "_")):
            continue
        median = json.loads(estimates.read_text())["median"]["point_estimate"]
        groups.setdefault(group, {})[function] = median
    functions = sorted({f for g in groups.values() for f in g}, key=lambda f: (f != baseline, f))
    print("| group | " + " | ".join(functions) + " | " +
          " | ".join(f"{f} / {baseline}" for f in functions if f != baseline) + " |")
    print("|---" * (1 + 2 * len(functions) - 1) + "|")
    for group, results in groups.items():
        base = results.get(baseline)
        cells = [fmt(results[f]) if f in results else "" for f in functions]
        ratios = [f"{results[f] / base:.2f}" if f in results and base else ""
                  for f in functions if f != baseline]
        print(f"| {group.replace('_', '/', 1)} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
