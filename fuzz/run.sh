#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after another, and prints
# libFuzzer's final stats line per target. Needs cargo-fuzz (`cargo install cargo-fuzz`);
# RUSTC_BOOTSTRAP lets the stable toolchain build with the sanitizer flags cargo-fuzz uses.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request response connect frames snapshot server peer sasl zk_files)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log="target/fuzz-$target.log"
  mkdir -p target
  cargo fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1 || {
    echo "$target: FAILED (see fuzz/$log and fuzz/artifacts/$target)"; tail -30 "$log"; exit 1; }
  echo "$target: $(grep -E '^(#[0-9]+|Done)' "$log" | tail -2 | tr '\n' ' ')"
done
