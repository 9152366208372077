#!/usr/bin/env bash
#
# scripts/bench-cgroups.sh: what following cgroups costs per sample. Makes
# N cgroups (one parent and N-1 children) in every mounted hierarchy, v1
# and v2, puts a sleeping process in each, and times the cgroup collector
# reading them (examples/cgroup_cost.rs: CPU time per read over READS
# reads). With --core, runs scripts/bench-core.sh with its options instead,
# with the N cgroups in place: the whole recorder's cost with them; to
# compare with the same build recording no cgroups, give --baseline
# target/release/flightrec and BENCH_BASELINE_ARGS="--cgroup-depth 0".
# Removes what it made, even when interrupted. As root.
#
#     scripts/bench-cgroups.sh [N] [READS]     defaults: 200 cgroups, 200 reads
#     scripts/bench-cgroups.sh --core N [bench-core.sh options]

set -euo pipefail
CORE=
if [[ ${1:-} == --core ]]; then
    CORE=yes
    shift
fi
N=${1:-200}
[[ $# -gt 0 ]] && shift
READS=${1:-200}
NAME=flightrec-bench-$$
cd "$(dirname "${BASH_SOURCE[0]}")/.."

roots=()
while read -r _ _ _ _ mount_point _ rest; do
    fs_type=${rest#*- }
    fs_type=${fs_type%% *}
    case $fs_type in cgroup|cgroup2) roots+=("$mount_point") ;; esac
done < /proc/self/mountinfo

sleepers=()
cleanup() {
    for pid in "${sleepers[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for root in "${roots[@]}"; do
        [ -d "$root/$NAME" ] || continue
        find "$root/$NAME" -mindepth 1 -maxdepth 1 -type d -exec rmdir {} + 2>/dev/null || true
        rmdir "$root/$NAME" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for root in "${roots[@]}"; do
    mkdir "$root/$NAME"
    for i in $(seq 2 "$N"); do mkdir "$root/$NAME/$i"; done
done
for i in $(seq 2 "$N"); do
    sleep 600 &
    sleepers+=($!)
    # cpuset refuses members until its cpus are set: it is not read anyway.
    for root in "${roots[@]}"; do echo $! > "$root/$NAME/$i/cgroup.procs" 2>/dev/null || true; done
done

echo "hierarchies: ${#roots[@]} (${roots[*]}), $N cgroups in each"
if [[ -n $CORE ]]; then
    scripts/bench-core.sh "$@"
    exit
fi
cargo build --release --quiet --example cgroup_cost
${BENCH_WRAP:-} target/release/examples/cgroup_cost "$READS"
