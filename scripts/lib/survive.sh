# shellcheck shell=bash
# Shared by the scripts that break the machine under a running recorder
# (crash-loop, fsync-per-commit, stalled-disk, under-pressure): the root
# check, missing Debian packages, the binary, and a list of undo steps run
# on any exit, Ctrl-C included. Sourced, never run.

# Undo steps, run last-registered first by the EXIT trap.
undo_steps=()

# on_exit COMMAND...: run COMMAND (one shell line) when the script ends.
on_exit() {
    undo_steps+=("$*")
}

run_undo_steps() {
    local i
    trap - EXIT INT TERM
    if [ -n "${pause_pid:-}" ]; then kill "$pause_pid" 2>/dev/null || true; fi
    for ((i = ${#undo_steps[@]} - 1; i >= 0; i--)); do
        eval "${undo_steps[i]}" || true
    done
}
trap run_undo_steps EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$0: run as root: it mounts, freezes, kills and changes limits" >&2
        exit 2
    fi
}

# need_packages COMMAND:PACKAGE...: installs the Debian packages whose
# command is missing, with one `apt-get update` first.
need_packages() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing ${missing[*]}..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Sets $bin: $FLIGHTREC_BIN when given, else a release build of this tree.
find_flightrec() {
    if [ -n "${FLIGHTREC_BIN:-}" ]; then
        bin=$FLIGHTREC_BIN
    else
        cargo build --release --quiet --bin flightrec
        bin=${CARGO_TARGET_DIR:-target}/release/flightrec
    fi
    [ -x "$bin" ] || { echo "$0: no flightrec binary at $bin" >&2; exit 1; }
    bin=$(realpath "$bin")
}

# stop_pid PID [SIGNAL]: signals a process this script started (TERM by
# default), waits up to 10 s, then kills it -9; quiet if it is gone.
stop_pid() {
    # Quiet: bash reports a child killed by a signal on stderr.
    stop_pid_loudly "$@" 2>/dev/null
}

stop_pid_loudly() {
    local pid=$1 signal=${2:-TERM} i
    kill "-$signal" "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# pause SECONDS: sleep, but let a signal end the script at once (bash runs
# traps only between commands; `wait` is one that a signal interrupts).
pause_pid=''
pause() {
    sleep "$1" &
    pause_pid=$!
    wait "$pause_pid" || true
    pause_pid=''
}

# now_ms: wall clock in ms, as the recorder stores time_ms.
now_ms() {
    local ns
    ns=$(date +%s%N)
    echo $((ns / 1000000))
}

# verdict FAILURES...: prints PASS or FAIL with the reasons; returns 1 on FAIL.
verdict() {
    if [ $# -eq 0 ]; then
        echo "PASS: $(basename "$0")"
        return 0
    fi
    echo "FAIL: $(basename "$0"):"
    printf '  - %s\n' "$@"
    return 1
}
