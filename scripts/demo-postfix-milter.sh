#!/usr/bin/env bash
# Reproduces the first seed incident with a real Postfix, and shows what
# `flightrec report` makes of it:
#   - Postfix calls a mail filter (milter) on 127.0.0.1:8891 for every SMTP
#     session; the filter accepts connections and never answers, so every
#     session waits milter_command_timeout (30 s) before its greeting;
#   - a burst of SMTP clients on 127.0.0.1:25 fills smtpd's process limit
#     (100), then port 25's accept queue (backlog 100);
#   - flightrec records it all with protocol probes, then `gaps` and `report`.
#
# This changes the system, so it is opt-in: without --yes it only says what
# it would do. It installs Postfix from Debian's packages if missing and
# purges it again on exit; it refuses to touch a Postfix (or any MTA) that
# was there before unless --force-existing is given, and then backs up
# /etc/postfix, stops that Postfix for the demo, and restores both on exit.
# Everything listens and connects on loopback only, and is cleaned up on
# exit, on Ctrl-C and on failure. Root only; takes about two minutes.
#
#   sudo scripts/demo-postfix-milter.sh --yes [--force-existing]
#        [--clients N] [--hold SECONDS] [--keep DIR] [--no-probe]
#
# With --no-probe the recorder probes nothing: the report must name the hung
# filter from the wait-for picture alone.
#
# --keep DIR keeps the recorded database and Postfix's log in DIR, to dig
# further with flightrec show/export; everything else is removed.
set -euo pipefail
cd "$(dirname "$0")/.."

clients=250 hold=40 yes=0 force=0 keep='' probes=yes
milter_port=8891
# What a run changed, kept outside the temporary directory so that a run
# killed with -9 can be undone by the next one.
state=/var/lib/flightrec-demo-postfix

usage() {
    echo "usage: $0 --yes [--force-existing] [--clients N] [--hold SECONDS] [--keep DIR] [--no-probe]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --yes) yes=1; shift ;;
        --force-existing) force=1; shift ;;
        --no-probe) probes=no; shift ;;
        --clients) [ $# -ge 2 ] || usage; clients=$2; shift 2 ;;
        --hold) [ $# -ge 2 ] || usage; hold=$2; shift 2 ;;
        --keep) [ $# -ge 2 ] || usage
            case "$2" in /*) keep=$2 ;; *) keep=$OLDPWD/$2 ;; esac  # relative to where it was run
            shift 2 ;;
        -h|--help) sed -n '2,26s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) usage ;;
    esac
done
case "$clients$hold" in *[!0-9]*|'') usage ;; esac
if [ "$clients" -lt 1 ] || [ "$clients" -gt 1000 ]; then echo "$0: --clients must be 1..1000" >&2; exit 2; fi
if [ "$hold" -lt 10 ] || [ "$hold" -gt 120 ]; then echo "$0: --hold must be 10..120 seconds" >&2; exit 2; fi

if [ "$yes" -ne 1 ]; then
    cat >&2 <<EOF
$0 changes this machine's mail setup for about two minutes, so it only runs
when given --yes. It will:
  1. refuse if an MTA other than Postfix is installed, if anything listens
     on port 25 or $milter_port, or if Postfix is installed or configured
     already (unless --force-existing: then back up /etc/postfix, stop that
     Postfix, and restore the configuration and restart it on exit);
  2. install postfix from Debian's packages if missing (apt-get, with
     debconf "Local only", no recommends), to be purged again on exit;
  3. configure it with postconf -e: smtpd_milters = inet:127.0.0.1:$milter_port,
     30 s milter timeouts, default_process_limit = 100, loopback only,
     qmgr and pickup disabled (no mail is delivered), log to a temp file;
  4. start a fake mail filter on 127.0.0.1:$milter_port that accepts and never
     answers, start Postfix (postfix start), start flightrec record with
     milter, smtp and tcp probes (none with --no-probe) into a temporary
     database;
  5. open $clients SMTP sessions to 127.0.0.1:25 for ${hold} s (each gives up
     after 60 s), then stop them and the recorder and print flightrec gaps,
     flightrec report and the recorded state of port 25;
  6. on exit, Ctrl-C or failure: stop Postfix (postfix stop), kill the filter
     and clients, purge the packages it installed (or restore /etc/postfix),
     and remove its temporary files.
Run it as root: $0 --yes
EOF
    exit 2
fi
[ "$(id -u)" -eq 0 ] || { echo "$0: must run as root (it installs and starts Postfix)" >&2; exit 1; }
for cmd in python3 dpkg-query apt-get; do
    command -v "$cmd" >/dev/null || { echo "$0: needs $cmd (a Debian system with python3)" >&2; exit 1; }
done

say() { printf '\n== %s\n' "$*"; }

# Is anything listening on TCP port $1 (any address, IPv4 or IPv6)?
listening() {
    local hex files=()
    hex=$(printf ':%04X' "$1")
    for f in /proc/net/tcp /proc/net/tcp6; do [ -r "$f" ] && files+=("$f"); done
    awk -v p="$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { found = 1 }
        END { exit !found }' "${files[@]}"
}

# "queued/backlog" of the listener on 127.0.0.1:25. Without ss, only the
# queue: /proc/net/tcp has it (rx_queue of the LISTEN row) but not the backlog.
queue25() {
    if command -v ss >/dev/null; then
        ss -Hltn 'sport = :25' | awk 'NR == 1 { printf "%s/%s", $2, $3 } END { if (NR == 0) printf "none" }'
        return
    fi
    local local_addr st queues
    while read -r _ local_addr _ st queues _; do
        if [ "$local_addr" = 0100007F:0019 ] && [ "$st" = 0A ]; then
            printf '%d' "0x${queues#*:}"
            return
        fi
    done < /proc/net/tcp
    printf 'none'
}

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

postfix_running() { command -v postfix >/dev/null && postfix status >/dev/null 2>&1; }

# Stop the Postfix that runs now and wait for its master and children to go.
stop_postfix() {
    postfix_running || return 0
    local pidfile master children=() _
    pidfile="$(postconf -h queue_directory)/pid/master.pid"
    master=$(tr -dc 0-9 < "$pidfile" 2>/dev/null || true)
    if [ -n "$master" ]; then
        mapfile -t children < <(pgrep -P "$master" || true)
    fi
    postfix stop >/dev/null 2>&1 || true
    for _ in $(seq 50); do
        if [ -z "$master" ] || ! kill -0 "$master" 2>/dev/null; then break; fi
        sleep 0.2
    done
    # Whatever did not go on SIGTERM (these are the processes of this master).
    for pid in ${master:+"$master"} "${children[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}

# Kill process $1 and its children if it still runs something from the
# directory $2 (so that a recycled process id is left alone).
kill_ours() {
    local child
    [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline" | grep -qF "$2/" || return 0
    for child in $(pgrep -P "$1"); do kill -9 "$child" 2>/dev/null || true; done
    kill -9 "$1" 2>/dev/null || true
}

# Undo what a run recorded in $state: stop the demo Postfix, restore
# /etc/postfix (and restart the Postfix that ran before) or purge what was
# installed, and forget the state. Used on exit and, first thing, after a
# run that was killed before it could clean up.
restore_system() {
    [ -d "$state" ] || return 0
    local dir='' p
    [ -f "$state/work" ] && dir=$(cat "$state/work")
    if [ -f "$state/pids" ] && [ -n "$dir" ]; then
        while read -r p; do kill_ours "$p" "$dir"; done < "$state/pids"
    fi
    if [ -f "$state/started" ]; then stop_postfix; fi
    if [ -f "$state/etc-postfix.tar" ]; then
        echo "restoring /etc/postfix from the backup"
        rm -rf /etc/postfix
        tar -C /etc -xpf "$state/etc-postfix.tar"
    fi
    if [ -f "$state/was-running" ]; then
        echo "starting the Postfix that was running before"
        postfix start >/dev/null 2>&1 || echo "$0: warning: postfix start failed; check it by hand" >&2
    fi
    if [ -s "$state/packages" ]; then
        local purge=()
        while read -r p; do installed "$p" && purge+=("$p"); done < "$state/packages"
        if [ ${#purge[@]} -gt 0 ]; then
            echo "purging what this script installed: ${purge[*]}"
            DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${purge[@]}" >/dev/null 2>&1 ||
                echo "$0: warning: apt-get purge ${purge[*]} failed; purge it by hand" >&2
        fi
        # Left behind by postfix's maintainer scripts, if they were not there.
        if [ -f "$state/absent-files" ]; then
            while read -r p; do rm -f "$p"; done < "$state/absent-files"
        fi
        if [ -f "$state/present-ids" ]; then
            getent passwd postfix >/dev/null && ! grep -qx 'user postfix' "$state/present-ids" && userdel postfix
            for p in postdrop postfix; do
                getent group "$p" >/dev/null && ! grep -qx "group $p" "$state/present-ids" && groupdel "$p"
            done
        fi
        # The debconf answer this script gave, if the purge did not take it.
        if [ -f "$state/debconf-was-empty" ] && ! installed postfix; then
            echo PURGE | debconf-communicate postfix >/dev/null 2>&1 || true
        fi
    fi
    # The temporary directory of a run that was killed (the current run's
    # goes in cleanup, after --keep).
    case "$dir" in /var/tmp/flightrec-postfix.*) [ "$dir" = "${work:-}" ] || rm -rf "$dir" ;; esac
    rm -rf "$state"
}

if [ -d "$state" ]; then
    echo "a previous run did not finish; undoing what it changed first"
    restore_system
fi

# --- Refuse to touch a mail system that was there before. -----------------
refuse() { echo "$0: refusing: $*" >&2; exit 1; }
if [ -e /usr/sbin/sendmail ]; then
    owner=$(dpkg-query -S /usr/sbin/sendmail 2>/dev/null | cut -d: -f1 || true)
    [ "$owner" = postfix ] || refuse "another MTA (${owner:-not from a package}) provides /usr/sbin/sendmail; installing Postfix would replace it"
fi
if listening "$milter_port"; then
    refuse "something already listens on port $milter_port (a real mail filter?); this demo needs that port for its fake filter"
fi
existing=0
if installed postfix; then
    existing=1
elif [ -e /etc/postfix ]; then
    refuse "/etc/postfix exists but the postfix package is not installed (left after a remove?); purge or move it first"
fi
if listening 25 && ! { [ "$existing" -eq 1 ] && postfix_running; }; then
    refuse "something other than Postfix listens on port 25"
fi
if [ "$existing" -eq 1 ] && [ "$force" -ne 1 ]; then
    refuse "Postfix is already installed$(postfix_running && echo ' and running'); add --force-existing to stop it, back up /etc/postfix and restore both on exit"
fi

# --- Build flightrec first: a failed build changes nothing. ---------------
if [ -n "${FLIGHTREC_BIN:-}" ]; then
    bin=$FLIGHTREC_BIN
else
    cargo build --release --quiet --bin flightrec
    bin=${CARGO_TARGET_DIR:-target}/release/flightrec
fi
[ -x "$bin" ] || { echo "$0: no flightrec binary at $bin" >&2; exit 1; }
# maillog_file must live under a prefix Postfix allows (/var by default).
work=$(mktemp -d /var/tmp/flightrec-postfix.XXXXXX)
chmod 755 "$work"
db=$work/flightrec.db
recorder=''
# Every helper started in the background, by process id, also in $state.
started() { echo "$1" >> "$state/pids"; }

cleanup() {
    local rc=$?
    trap '' INT TERM
    set +e
    if [ -n "$recorder" ] && kill -0 "$recorder" 2>/dev/null; then
        kill -TERM "$recorder"    # timeout passes it on; the run ends cleanly
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$recorder" 2>/dev/null || break; sleep 0.3; done
    fi
    say "cleaning up"
    restore_system    # kills the helpers, stops Postfix, restores or purges
    wait 2>/dev/null
    if [ -n "$keep" ]; then
        mkdir -p "$keep" && cp "$work/flightrec.db" "$work/maillog" "$keep/" 2>/dev/null &&
            echo "kept the database and Postfix's log in $keep"
    fi
    rm -rf "$work"
    if listening 25 && ! postfix_running; then
        echo "$0: warning: something still listens on port 25" >&2
    fi
    echo "left as found: $(if postfix_running; then echo 'the Postfix that ran before is running again'; elif installed postfix; then echo 'Postfix installed as before, not running'; else echo 'Postfix not installed'; fi), $(listening 25 && echo 'port 25 in use by that Postfix' || echo 'port 25 free'), temporary files removed"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Record what will change, then change it. -----------------------------
mkdir -m 700 "$state"
echo "$work" > "$state/work"
touch "$state/started"   # restore stops whatever Postfix runs by then
if [ "$existing" -eq 1 ]; then
    say "backing up /etc/postfix (--force-existing)"
    # Known before anything stops it, so that restore restarts it whenever
    # this run ends; the backup counts only once it is complete.
    if postfix_running; then touch "$state/was-running"; fi
    tar -C /etc -cpf "$state/etc-postfix.tar.part" postfix
    mv "$state/etc-postfix.tar.part" "$state/etc-postfix.tar"
    if [ -f "$state/was-running" ]; then
        echo "stopping the running Postfix for the demo"
        stop_postfix
    fi
else
    say "installing postfix (Debian package, \"Local only\", no recommends)"
    if ! apt-cache policy postfix 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        timeout 120 apt-get update -qq
    fi
    # What the package's maintainer scripts may leave behind, as it was.
    for f in /etc/aliases /etc/aliases.db /etc/mailname; do
        [ -e "$f" ] || echo "$f"
    done > "$state/absent-files"
    { getent passwd postfix >/dev/null && echo 'user postfix'
      getent group postfix >/dev/null && echo 'group postfix'
      getent group postdrop >/dev/null && echo 'group postdrop'
      true; } > "$state/present-ids"
    [ -n "$(debconf-show postfix 2>/dev/null)" ] || touch "$state/debconf-was-empty"
    # Exactly the packages apt is about to install, so that exit purges those
    # and nothing else.
    apt-get install -s --no-install-recommends postfix | awk '$1 == "Inst" { print $2 }' > "$state/packages"
    echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
    timeout 150 env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --download-only --no-install-recommends postfix >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix >"$work/apt.log" 2>&1 ||
        { cat "$work/apt.log" >&2; exit 1; }
    echo "installed: $(tr '\n' ' ' < "$state/packages")"
    # On hosts where installing starts the service, stop it before reconfiguring.
    stop_postfix
fi

say "configuring Postfix (postconf -e)"
settings=(
    # The incident: every SMTP session asks a milter that never answers.
    "smtpd_milters = inet:127.0.0.1:$milter_port"
    "non_smtpd_milters ="
    "milter_connect_timeout = 30s"
    "milter_command_timeout = 30s"
    # Postfix's default; with "accept" the hang is the same (the greeting
    # waits 30 s either way), but then mail would be let through unfiltered.
    "milter_default_action = tempfail"
    # The seed server's process limit; master also uses it as port 25's backlog.
    "default_process_limit = 100"
    "inet_interfaces = loopback-only"
    "inet_protocols = ipv4"
    "mynetworks = 127.0.0.0/8"
    # No mail leaves or is delivered: keep whatever is queued where it is.
    "master_service_disable = qmgr.unix pickup.unix"
    # For this container: no DNS for the chrooted smtpd, no TLS needed, and no
    # syslog, so Postfix logs to a file of ours.
    "smtpd_peername_lookup = no"
    "smtpd_tls_security_level = none"
    "maillog_file = $work/maillog"
)
for s in "${settings[@]}"; do echo "  $s"; done
postconf -e "${settings[@]}"
# Debian's default smtp service (plain smtpd, default process limit), and
# the log service that maillog_file needs, whatever master.cf said before.
postconf -M "smtp/inet=smtp inet n - y - - smtpd" \
    "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd"

# --- The hung filter, the recorder, Postfix. ------------------------------
# The real interpreter under a telling name (a version-manager shim would
# not run under another name, and would not be the process we kill).
python=$(python3 -c 'import sys; print(sys.executable)')
ln -s "$python" "$work/hung-milter"
ln -s "$python" "$work/smtp-clients"
cat > "$work/milter.py" <<'PY'
# Listens, accepts, never says a word (as a filter wedged on a dead scanner).
import signal, socket, sys
signal.alarm(int(sys.argv[2]))   # gone by then whatever happens to the script
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1024)
held = []
while True:
    conn, _ = s.accept()
    held.append(conn)
PY
cat > "$work/clients.py" <<'PY'
# N SMTP sessions to 127.0.0.1:25, started at a steady rate: connect, wait
# for the greeting, EHLO, MAIL FROM, then stay until GIVE_UP seconds after
# the session began (or the server hangs up). On SIGTERM, print a summary.
import os, signal, socket, sys, threading, time
n, rate, give_up = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
signal.alarm(int(n / rate + give_up + 10))   # gone by then whatever happens
lock = threading.Lock()
count = {"started": 0, "connected": 0, "greeted": 0, "rejected": 0, "gave up": 0, "failed": 0}
greet_after = []
def bump(key):
    with lock:
        count[key] += 1
def session(i):
    start = time.monotonic()
    left = lambda: max(0.1, start + give_up - time.monotonic())
    bump("started")
    try:
        c = socket.create_connection(("127.0.0.1", 25), timeout=give_up)
    except OSError:
        bump("failed")
        return
    bump("connected")
    try:
        c.settimeout(left())
        if not c.recv(512):
            return
        greet_after.append(time.monotonic() - start)
        bump("greeted")
        c.settimeout(left())
        c.sendall(b"EHLO client%d.demo.invalid\r\n" % i)
        c.recv(4096)
        c.sendall(b"MAIL FROM:<demo@demo.invalid>\r\n")
        if c.recv(512).startswith(b"4"):
            bump("rejected")
        c.settimeout(left())
        c.recv(512)
    except socket.timeout:
        bump("gave up")
    except OSError:
        pass
    finally:
        c.close()
def summary(*_):
    with lock:
        g = sorted(greet_after)
        waited = f", greeting after {g[0]:.1f}..{g[-1]:.1f} s" if g else ""
        print(f"SMTP clients: {count['started']} started, {count['connected']} connected, "
              f"{count['greeted']} got a greeting{waited}, {count['rejected']} told 4xx by the milter "
              f"default action, {count['failed']} could not connect", flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, summary)
for i in range(n):
    threading.Thread(target=session, args=(i,), daemon=True).start()
    time.sleep(1 / rate)
while True:
    time.sleep(1)
PY

say "starting the hung milter on 127.0.0.1:$milter_port, Postfix, and the recorder"
"$work/hung-milter" "$work/milter.py" "$milter_port" $((hold + 150)) & started "$!"
disown "$!"    # killed with -9 at the end: no "Killed" notice
sleep 0.5
postfix start >/dev/null 2>&1 || { cat "$work/maillog" >&2 2>/dev/null; echo "$0: postfix start failed" >&2; exit 1; }
for _ in $(seq 25); do listening 25 && break; sleep 0.2; done
listening 25 || { echo "$0: Postfix does not listen on port 25" >&2; exit 1; }
postfix status 2>&1 || true
echo "port 25 accept queue: $(queue25) (queued/backlog)"
probe_args=()
if [ "$probes" = yes ]; then
    probe_args=(--probe "milter:127.0.0.1:$milter_port" --probe smtp:127.0.0.1:25
        --probe "tcp:127.0.0.1:$milter_port")
fi
timeout $((hold + 60)) "$bin" record --db "$db" --interval 1s "${probe_args[@]}" 2>"$work/recorder.log" &
recorder=$!; started "$recorder"
echo "recording into $db; letting it settle..."
sleep 5

say "opening $clients SMTP sessions to 127.0.0.1:25 (25 per second) for ${hold}s"
"$work/smtp-clients" "$work/clients.py" "$clients" 25 60 > "$work/clients.log" &
clients_pid=$!; started "$clients_pid"
for t in $(seq "$hold"); do
    sleep 1
    if [ $((t % 5)) -eq 0 ]; then
        printf '  +%3ds: %3d smtpd processes, port 25 accept queue %s\n' \
            "$t" "$(pgrep -c -x smtpd || true)" "$(queue25)"
    fi
done

# The recorder first, so that its last samples show the incident in full, as
# on the seed's server, which froze in the middle of it.
say "stopping the recorder, then the clients"
kill -TERM "$recorder"
wait "$recorder" 2>/dev/null || true
recorder=''
kill -TERM "$clients_pid" 2>/dev/null || true
wait "$clients_pid" 2>/dev/null || true
cat "$work/clients.log"

echo
echo "What Postfix logged ($work/maillog):"
grep -m 1 "can't read SMFIC_OPTNEG" "$work/maillog" || true
grep -m 1 'milter-reject: CONNECT' "$work/maillog" || true
echo "  ... $(grep -c "can't read SMFIC_OPTNEG" "$work/maillog" || true) milter handshake timeouts, $(grep -c 'milter-reject: CONNECT' "$work/maillog" || true) sessions answered 451 after them"
# master warns "has reached its process limit" only for services with stress
# detection, which it turns off for services that listen on loopback only.
echo "  (no \"reached its process limit\" warning: Postfix gives that only for services not bound to loopback only)"

echo
echo "\$ flightrec gaps"
"$bin" gaps --db "$db"
echo
echo "\$ flightrec report --at now --window 2m"
"$bin" report --db "$db" --at now --window 2m
echo
echo "\$ flightrec export --what sockets | port 25's listener, every 5th sample"
"$bin" export --db "$db" --what sockets |
    awk -F, 'NR == 1 { print; next } $3 == "listen" && $4 == 25 && n++ % 5 == 0'
