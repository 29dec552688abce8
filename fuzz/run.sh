#!/usr/bin/env bash
# usage: fuzz/run.sh [SECONDS] [TARGET...]
# Runs each fuzz target in turn (one process at a time) for SECONDS (default 180), from
# its committed seeds (fuzz/seeds/<target>) and the corpus it grew before
# (fuzz/corpus/<target>, not committed). Installs cargo-fuzz if missing. cargo-fuzz
# needs nightly flags: on a stable toolchain RUSTC_BOOTSTRAP=1 allows them. A crash
# stops its target and is saved under fuzz/artifacts/<target>/; the script goes on
# with the next target and exits non-zero at the end. Not part of `make test`.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv_products csv_locations job_message job_event upload_query gateway_request bearer_token)
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# No sanitizer: the code under test is safe Rust (unsafe_code is forbidden in the
# workspace); debug assertions and overflow checks on.
build_flags=(--sanitizer none --debug-assertions --features registry,ingest,gateway,auth)
failed=()
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  echo "== $target: ${seconds}s"
  if ! cargo fuzz run "${build_flags[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
      -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 -rss_limit_mb=2048; then
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashed: ${failed[*]} (inputs under fuzz/artifacts/)"
  exit 1
fi
