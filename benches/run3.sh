#!/usr/bin/env bash
# Runs `cargo bench` three separate times (optionally only the named bench files) and prints
# the median gosync / baseline ratio of each group with its min-max range. Run it on an idle
# machine: nothing else compiling or testing.
#   bash benches/run3.sh                 # every bench file
#   bash benches/run3.sh mutex queue     # only these
set -euo pipefail
cd "$(dirname "$0")/.."
benches=()
for name in "$@"; do benches+=(--bench "$name"); done
dirs=()
for run in 1 2 3; do
    rm -rf target/criterion
    cargo bench "${benches[@]}" -- --noplot >/dev/null 2>&1 || cargo bench "${benches[@]}" >/dev/null
    rm -rf "target/criterion-run$run"
    cp -r target/criterion "target/criterion-run$run"
    dirs+=("target/criterion-run$run")
done
python3 benches/ratios.py "${dirs[@]}"
