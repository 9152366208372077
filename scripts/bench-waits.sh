#!/usr/bin/env bash
#
# scripts/bench-waits.sh: what the wait-for picture (src/collect/waits/)
# costs per sample at 600 processes and 1,000 TCP sockets, against its
# budget of 1 ms of CPU (10% of the recorder's). Builds the benchmark
# program (examples/bench_waits.rs, release), starts idle processes up to
# the count asked for, and runs it twice: every connection answered, then
# with some connections stuck (a request nobody reads), whose clients the
# picture names. Each run also reads the socket table the recorder reads
# today, in the same loop, for comparison. Cleans up after itself.

set -euo pipefail

USAGE="usage: scripts/bench-waits.sh [--procs N] [--sockets N] [--stuck N] [--reads N]

  --procs N    processes on the machine during the measure, at least [600]
  --sockets N  TCP sockets held by the benchmark (N/2 loopback connections) [1000]
  --stuck N    connections left waiting in the second run [100]
  --reads N    pictures read per run [300]"

procs=600 sockets=1000 stuck=100 reads=300
while (($#)); do
    case $1 in
        --procs) procs=$2 ;;
        --sockets) sockets=$2 ;;
        --stuck) stuck=$2 ;;
        --reads) reads=$2 ;;
        *) echo "$USAGE" >&2; exit 2 ;;
    esac
    shift 2 || { echo "$USAGE" >&2; exit 2; }
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --quiet --release --example bench_waits
bench=target/release/examples/bench_waits

sleepers=()
cleanup() {
    ((${#sleepers[@]})) && kill "${sleepers[@]}" 2>/dev/null
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

have=$(find /proc -maxdepth 1 -name '[0-9]*' | wc -l)
for ((i = have; i < procs; i++)); do
    sleep "1000.$i" &
    sleepers+=($!)
done
ulimit -n $((sockets + 256))

echo "## wait-for picture: CPU per sample"
echo
echo "$(find /proc -maxdepth 1 -name '[0-9]*' | wc -l) processes, $sockets sockets held by the benchmark" \
    "(plus the machine's), $(nproc) CPUs, Linux $(uname -r)."
echo "Command: scripts/bench-waits.sh --procs $procs --sockets $sockets --stuck $stuck --reads $reads"
echo
echo "### every connection answered"
"$bench" --sockets "$sockets" --reads "$reads"
echo
echo "### $stuck connections stuck (their clients named)"
"$bench" --sockets "$sockets" --stuck "$stuck" --reads "$reads"
