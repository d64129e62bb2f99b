#!/usr/bin/env python3
"""Print gosync / baseline median-time ratios of criterion results as a markdown table.

Usage: python3 benches/ratios.py [CRITERION_DIR]   (default: target/criterion)

Reads CRITERION_DIR/<group>/<id>/new/estimates.json (median.point_estimate, in ns) for every
group that has a `gosync` id, and prints one row per (group, baseline id). A ratio below 1.0
means gosync is faster. Targets are in /work/shared/BENCHMARKS.md. Standard library only.
"""

import json
import os
import sys


def read_median(path):
    with open(path, encoding="utf-8") as f:
        return float(json.load(f)["median"]["point_estimate"])


def bench_name(group_dir, id_dir):
    """(group, id) as criterion spelled them (benchmark.json), else the directory names."""
    try:
        with open(os.path.join(id_dir, "new", "benchmark.json"), encoding="utf-8") as f:
            meta = json.load(f)
        return meta.get("group_id") or os.path.basename(group_dir), (
            meta.get("function_id") or os.path.basename(id_dir)
        )
    except (OSError, ValueError):
        return os.path.basename(group_dir), os.path.basename(id_dir)


def collect(root):
    """{group: {id: median_ns}} for every <group>/<id>/new/estimates.json under root."""
    groups = {}
    for gname in sorted(os.listdir(root)):
        gdir = os.path.join(root, gname)
        if gname == "report" or not os.path.isdir(gdir):
            continue
        for iname in sorted(os.listdir(gdir)):
            idir = os.path.join(gdir, iname)
            est = os.path.join(idir, "new", "estimates.json")
            if iname == "report" or not os.path.isfile(est):
                continue
            try:
                median = read_median(est)
            except (OSError, ValueError, KeyError, TypeError) as e:
                print(f"warning: cannot read {est}: {e}", file=sys.stderr)
                continue
            group, bid = bench_name(gdir, idir)
            groups.setdefault(group, {})[bid] = median
    return groups


def fmt_ns(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join("target", "criterion")
    if not os.path.isdir(root):
        print(f"error: no criterion directory at {root}", file=sys.stderr)
        return 2
    groups = collect(root)
    rows = []
    for group in sorted(groups):
        ids = groups[group]
        if "gosync" not in ids:
            continue
        g = ids["gosync"]
        for bid in sorted(ids):
            if bid == "gosync":
                continue
            base = ids[bid]
            ratio = g / base if base > 0 else float("inf")
            rows.append((group, bid, fmt_ns(g), fmt_ns(base), f"{ratio:.2f}"))
    if not rows:
        print(f"no group with a `gosync` id under {root}", file=sys.stderr)
        return 1
    print("| group | baseline | gosync median | baseline median | gosync / baseline |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
