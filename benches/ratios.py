#!/usr/bin/env python3
"""Print gosync / baseline median-time ratios of criterion results as a markdown table.

Usage: python3 benches/ratios.py [CRITERION_DIR ...]   (default: target/criterion)

Reads CRITERION_DIR/<group>/<id>/new/estimates.json (median.point_estimate, in ns) for every
group that has a `gosync` id, and prints one row per (group, baseline id). A ratio below 1.0
means gosync is faster. Given several directories (one per separate `cargo bench` run, as
benches/run3.sh makes them), it prints the median ratio over the runs with its min-max
range: one run on a shared, noisy machine can be off by 2x. Standard library only.
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


def ratios(groups):
    """{(group, baseline): gosync_median / baseline_median}."""
    out = {}
    for group, ids in groups.items():
        if "gosync" not in ids:
            continue
        for bid, base in ids.items():
            if bid != "gosync":
                out[(group, bid)] = ids["gosync"] / base if base > 0 else float("inf")
    return out


def main(argv):
    roots = argv[1:] or [os.path.join("target", "criterion")]
    runs = []
    for root in roots:
        if not os.path.isdir(root):
            print(f"error: no criterion directory at {root}", file=sys.stderr)
            return 2
        runs.append(ratios(collect(root)))
    keys = sorted(set().union(*runs))
    if not keys:
        print(f"no group with a `gosync` id under {roots}", file=sys.stderr)
        return 1
    print(f"| group | baseline | gosync / baseline (median of {len(runs)}) | min-max |")
    print("|---|---|---|---|")
    for key in keys:
        values = sorted(run[key] for run in runs if key in run)
        median = values[len(values) // 2] if len(values) % 2 else sum(values[len(values) // 2 - 1 :][:2]) / 2
        print(f"| {key[0]} | {key[1]} | {median:.2f} | {values[0]:.2f}-{values[-1]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
