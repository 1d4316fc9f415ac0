#!/usr/bin/env bash
# Sync calls per batch of each store (strace -c): a run of K batches minus a
# run of none (open, prefill, close), divided by K. Tells how each store
# would fare on a disk whose fsync is slower than this machine's.
set -eu -o pipefail
cd "$(dirname "$0")"
bin=target/release/store-choice
K=${K:-500}
count() { # store n batches
  strace -f -qq -c -e trace=fsync,fdatasync,sync_file_range,msync \
    "$bin" --only "$1" --n "$2" --batches "$3" --runs 1 --no-recovery --dir target/data-strace \
    2>&1 >/dev/null | awk '$NF ~ /^(fsync|fdatasync|sync_file_range|msync)$/ {s += $4} END {print s+0}'
}
echo "| store | N | sync calls per batch |"
echo "|---|---:|---:|"
for n in 1 16 128; do
  for s in log log-presized log-zeroed redb fjall-syncdata fjall-syncall; do
    a=$(count "$s" "$n" 0); b=$(count "$s" "$n" "$K")
    echo "| $s | $n | $(awk -v a="$a" -v b="$b" -v k="$K" 'BEGIN {printf "%.2f", (b - a) / k}') |"
  done
done
rm -rf target/data-strace
