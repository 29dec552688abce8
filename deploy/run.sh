#!/usr/bin/env bash
# Runs the whole bgjobs system locally and shows a real job go through it:
# brings up the local stack, builds every service, starts each as its own process,
# uploads deploy/samples/products.csv (with a few bad rows) and prints the job's
# transitions live until it is Completed, then its counts and results file, and the
# email the notifier sent about it (the local SMTP server keeps mail in a folder). The
# gateway serves the Background Jobs page with demo users (sign in at the printed URL).
#
# The services keep running until Ctrl-C (or exit right away with BGJOBS_DEMO_EXIT=1).
# Logs: .run/<service>.log. Every setting has a default pointing at the local stack,
# but for the brokers: each service signs in to RabbitMQ and to bgjobs' NATS server
# (127.0.0.1:4223) as its own user (docs/security.md, "Brokers").
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$REPO_ROOT/.run"
cd "$REPO_ROOT"
mkdir -p "$RUN_DIR"

export BGJOBS_DATABASE_URL="${BGJOBS_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bgjobs}"
export BGJOBS_REGISTRY_URL="${BGJOBS_REGISTRY_URL:-https://127.0.0.1:50051}"
INGEST_ADDR="${BGJOBS_INGEST_HTTP_ADDR:-127.0.0.1:8081}"
# Ingest's HTTP API is served over mutual TLS under its service name, whatever
# address it listens on: curl dials the address (--connect-to) and checks the name.
INGEST_URL="https://ingest.bgjobs.internal:${INGEST_ADDR##*:}"
GATEWAY_URL="http://${BGJOBS_GATEWAY_HTTP_ADDR:-127.0.0.1:8080}"
# Local use only: anyone can sign in as a demo user (see docs/gateway.md).
export BGJOBS_GATEWAY_DEMO_USERS="${BGJOBS_GATEWAY_DEMO_USERS:-true}"
# The demo users' account, and the demo operator who uploads (and is emailed).
ACCOUNT=demo
DEMO_USER=operator
CLIENT="${BGJOBS_DEMO_CLIENT:-acme}"
# Each service's probes and metrics (BGJOBS_OPS_ADDR), on a port of its own.
declare -A OPS_ADDR=(
    [notifier]=127.0.0.1:8091 [product-upload]=127.0.0.1:8092
    [warehouse-upload]=127.0.0.1:8093 [delete-client]=127.0.0.1:8094
    [jobs-registry]=127.0.0.1:8095 [gateway]=127.0.0.1:8096 [ingest]=127.0.0.1:8097
)
MAIL_DIR=/tmp/bgjobs-mail
# The services call each other over mutual TLS; a local run makes up its own
# certificate authority (production certificates come from the cluster's issuer).
CERT_DIR="$RUN_DIR/certs"

step() { printf '\n==> %s\n' "$*"; }

deploy/stack.sh up

step "building the services"
cargo build --bins --quiet
BIN="$REPO_ROOT/target/debug"

step "making certificates for the services"
"$BIN/jobsctl" dev-certs --out "$CERT_DIR"
export BGJOBS_TLS_CA_FILE="$CERT_DIR/ca.pem"
# curl to ingest: trust the local authority, and reach ingest's name at its address.
INGEST_CURL=(curl --cacert "$CERT_DIR/ca.pem"
    --connect-to "ingest.bgjobs.internal:${INGEST_ADDR##*:}:$INGEST_ADDR")

pids=()
stop_services() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_services EXIT

# The broker URLs of service $1 (as VAR=value words): its own RabbitMQ user if it talks
# to RabbitMQ, its own NATS user if it talks to NATS, with the local-only passwords of
# deploy/rabbitmq-users.json and deploy/nats-local.conf.
broker_env() {
    local name=$1
    case $name in
    ingest | product-upload | warehouse-upload | delete-client | jobsctl)
        echo "BGJOBS_AMQP_URL=amqp://bgjobs-$name:$name-local-only@127.0.0.1:5672/%2f"
        ;;
    esac
    case $name in
    product-upload | warehouse-upload | delete-client | jobs-registry | notifier)
        echo "BGJOBS_NATS_URL=nats://bgjobs-$name:$name-local-only@127.0.0.1:4223"
        ;;
    esac
}

# Where ingest (service $1) finds the keys of users' tokens: here the demo users' key,
# which the gateway publishes as an identity provider publishes its JWKS.
token_env() {
    if [ "$1" = ingest ]; then
        echo "BGJOBS_AUTH_JWKS_URL=$GATEWAY_URL/api/v1/demo/jwks.json"
        echo "BGJOBS_AUTH_ISSUER=bgjobs-gateway-demo"
    fi
}

# Where service $1 serves its probes and metrics, if it has its own port for them.
ops_env() {
    if [ -n "${OPS_ADDR[$1]:-}" ]; then echo "BGJOBS_OPS_ADDR=${OPS_ADDR[$1]}"; fi
}

# Starts service $1 with its own certificate, broker users and probes' port.
start() {
    local name=$1
    # shellcheck disable=SC2046 # one word per variable
    env $(broker_env "$name") $(token_env "$name") $(ops_env "$name") \
        BGJOBS_TLS_CERT_FILE="$CERT_DIR/$name.pem" BGJOBS_TLS_KEY_FILE="$CERT_DIR/$name.key" \
        "$BIN/$name" >"$RUN_DIR/$name.log" 2>&1 &
    pids+=($!)
    echo "$name started (pid $!, log .run/$name.log)"
}

# Polls "$@" every 200 ms for up to 60 s.
wait_for() {
    local what=$1
    shift
    for _ in $(seq 300); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "gave up waiting for $what; see .run/*.log" >&2
    exit 1
}

step "starting the services"
start jobs-registry
# jobsctl calls as the operators' tool.
export BGJOBS_TLS_CERT_FILE="$CERT_DIR/jobsctl.pem" BGJOBS_TLS_KEY_FILE="$CERT_DIR/jobsctl.key"
wait_for "the jobs registry" "$BIN/jobsctl" jobs list --account "$ACCOUNT" --limit 1
psql -q "$BGJOBS_DATABASE_URL" -v ON_ERROR_STOP=1 \
    -c "INSERT INTO catalog.clients (account_id, client_id, name) VALUES ('$ACCOUNT', '$CLIENT', 'ACME Corp') ON CONFLICT DO NOTHING"
echo "client '$CLIENT' of account '$ACCOUNT' is ready"
start ingest
start product-upload
start warehouse-upload
start delete-client
start notifier
start gateway
wait_for "ingest" "${INGEST_CURL[@]}" -fsS "$INGEST_URL/readyz"
for name in jobs-registry ingest notifier product-upload warehouse-upload delete-client gateway; do
    wait_for "the $name" curl -fsS "http://${OPS_ADDR[$name]}/readyz"
done
wait_for "the gateway" curl -fsS "$GATEWAY_URL/readyz"
echo "the Background Jobs page: $GATEWAY_URL/sign-in (demo users of account '$ACCOUNT')"

step "signing in as the demo user '$DEMO_USER' and uploading deploy/samples/products.csv"
# As on the page: the gateway checks the token, forwards the upload to ingest with the
# same token, and ingest takes the account, the user and the address to email from it.
token=$(curl -fsS -X POST -H 'Content-Type: application/json' -d "{\"user\":\"$DEMO_USER\"}" \
    "$GATEWAY_URL/api/v1/demo/sign-in" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "the demo sign-in failed" >&2; exit 1; }
response=$(curl -sS --fail-with-body -X POST \
    -H "Authorization: Bearer $token" -H 'Content-Type: text/csv' \
    --data-binary @deploy/samples/products.csv \
    "$GATEWAY_URL/api/v1/jobs/product-upload?client_id=$CLIENT&file_name=products.csv")
echo "$response"
job_id=$(sed -n 's/.*"job_id":"\([^"]*\)".*/\1/p' <<<"$response")
[ -n "$job_id" ] || { echo "the upload was not accepted" >&2; exit 1; }

step "following job $job_id"
"$BIN/jobsctl" jobs watch --account "$ACCOUNT" "$job_id" --timeout-secs 120

step "the email about job $job_id"
# The notifier's Message-ID names the job; the SMTP server keeps one file per message.
mail_file() { grep -l "^Message-ID: <$job_id\." "$MAIL_DIR"/new/* 2>/dev/null | head -n 1; }
mail_arrived() { [ -n "$(mail_file)" ]; }
wait_for "the email" mail_arrived
file=$(mail_file)
grep -m 3 -E '^(To|Subject|Message-ID):' "$file"
echo "received mail is kept in $MAIL_DIR/new (one .eml-style file per message); this one: $file"

step "what the product-upload consumer counted (its /metrics)"
consumer_metrics() { curl -fsS "http://${OPS_ADDR[product-upload]}/metrics"; }
counted() { consumer_metrics | grep -q '^bgjobs_consumer_deliveries_total.*outcome="completed"'; }
wait_for "the consumer's count" counted
consumer_metrics | grep '^bgjobs_consumer_deliveries_total'

if [ "${BGJOBS_DEMO_EXIT:-0}" = 1 ]; then
    exit 0
fi
step "the services keep running (logs in .run/); open $GATEWAY_URL/sign-in; Ctrl-C stops them"
wait
