#!/usr/bin/env bash
# One fuzz campaign for one target (run by `make fuzz-long`, from fuzz/):
#   1. fuzz for SECONDS on the working corpus corpus/<t> (persistent,
#      gitignored), seeded from the kept corpus corpus-kept/<t> (in the
#      repository) and the golden vectors corpus/seed;
#   2. minimise working + kept corpus (cargo fuzz cmin) and write the result
#      back to corpus-kept/<t>;
#   3. coverage of the minimised corpus (cargo fuzz coverage, then llvm-cov
#      report and a JSON summary for coverage-table.py).
# Results go to results/<t>/: fuzz.log, stats (executions, corpus size),
# coverage.txt (llvm-cov report), coverage.json (llvm-cov export -summary-only).
# Usage: campaign.sh <target> <seconds>
set -euo pipefail
t=$1
seconds=$2
cargo=${CARGO:-cargo}
cd "$(dirname "$0")"
out=results/$t
mkdir -p "corpus/$t" "corpus-kept/$t" corpus/seed "$out"

echo "== $t: fuzzing for ${seconds}s"
status=0
$cargo +nightly fuzz run -O "$t" "corpus/$t" "corpus-kept/$t" corpus/seed -- \
  -max_total_time="$seconds" -print_final_stats=1 >"$out/fuzz.log" 2>&1 || status=$?
tail -n 12 "$out/fuzz.log"
if [ "$status" != 0 ]; then
  echo "== $t: the fuzzer stopped with status $status (a crash: see $out/fuzz.log and artifacts/$t/)"
  exit "$status"
fi
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log" | tail -n 1)

echo "== $t: minimising the corpus into corpus-kept/$t"
# cmin minimises one directory in place: the kept files join the working
# corpus first (file names are content hashes, so nothing collides).
cp -n "corpus-kept/$t"/* "corpus/$t"/ 2>/dev/null || true
$cargo +nightly fuzz cmin -O "$t" "corpus/$t" >"$out/cmin.log" 2>&1 || { tail -n 20 "$out/cmin.log"; exit 1; }
rm -rf "corpus-kept/$t.new"
cp -r "corpus/$t" "corpus-kept/$t.new"
rm -rf "corpus-kept/$t"
mv "corpus-kept/$t.new" "corpus-kept/$t"
files=$(find "corpus-kept/$t" -type f | wc -l)
bytes=$(du -sb "corpus-kept/$t" | cut -f1)

echo "== $t: coverage of the minimised corpus"
sysroot=$(rustc +nightly --print sysroot)
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
llvm_cov=$sysroot/lib/rustlib/$host/bin/llvm-cov
test -x "$llvm_cov" || { echo "llvm-cov not found at $llvm_cov (rustup component add llvm-tools-preview --toolchain nightly)"; exit 1; }
$cargo +nightly fuzz coverage -O "$t" "corpus-kept/$t" >"$out/coverage-build.log" 2>&1 || { tail -n 20 "$out/coverage-build.log"; exit 1; }
bin=target/$host/coverage/$host/release/$t
profdata=coverage/$t/coverage.profdata
"$llvm_cov" report "$bin" -instr-profile="$profdata" >"$out/coverage.txt"
"$llvm_cov" export -summary-only "$bin" -instr-profile="$profdata" >"$out/coverage.json"
printf 'target=%s\nseconds=%s\nexecutions=%s\nkept_files=%s\nkept_bytes=%s\n' \
  "$t" "$seconds" "${execs:-0}" "$files" "$bytes" >"$out/stats"
if [ "$bytes" -gt 1048576 ]; then
  echo "== $t: NOTE the kept corpus is over 1 MiB ($bytes bytes): consider -max_len for this target"
fi
echo "== $t: done (${execs:-?} executions, kept corpus $files files, $bytes bytes)"
