#!/usr/bin/env bash
# Flat-memory benchmark of the product-upload consumer.
#
#   deploy/bench-memory.sh [SIZE_MB ...]      (default: 10 100)
#
# For each size it generates a product file of about SIZE_MB megabytes (written row by
# row with awk, never held in memory), uploads it through ingest of a local system
# this script starts (its own queue prefix, ports and database), restarts the
# product-upload consumer first so its peak RSS (VmHWM) belongs to that file alone,
# waits until the job is Completed and prints the peak RSS and the wall times. The
# first size is the baseline: flat memory means the peak stays close to it.
#
# Files go to .run/bench/ (removed after each run unless BENCH_KEEP_FILES=1); logs to
# .run/bench/*.log. BENCH_SKIP_BUILD=1 uses the binaries already in target/debug.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$REPO_ROOT/.run/bench"
BIN="$REPO_ROOT/target/debug"
cd "$REPO_ROOT"
mkdir -p "$BENCH_DIR"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10 100)

run_id="$(date +%s)"
export BGJOBS_PREFIX="bench${run_id}."
export BGJOBS_DATABASE_URL="postgres://postgres@127.0.0.1:5432/bgjobs_bench"
export BGJOBS_REGISTRY_GRPC_ADDR="127.0.0.1:50151"
export BGJOBS_REGISTRY_URL="https://$BGJOBS_REGISTRY_GRPC_ADDR"
export BGJOBS_REGISTRY_CONSUMER="jobs-registry-bench${run_id}"
export BGJOBS_INGEST_HTTP_ADDR="127.0.0.1:8181"
export BGJOBS_INGEST_GRPC_ADDR="127.0.0.1:50152"
export BGJOBS_MAX_UPLOAD_BYTES=$((2 * 1024 * 1024 * 1024))
export RUST_LOG="${RUST_LOG:-warn,product_upload=info,bgjobs_consumer=info,bgjobs_upload=info}"
# Services talk over mutual TLS with certificates of an authority made up here; ingest's
# HTTP API is reached under its service name at its address (--connect-to).
CERT_DIR="$BENCH_DIR/certs"
export BGJOBS_TLS_CA_FILE="$CERT_DIR/ca.pem"
INGEST_URL="https://ingest.bgjobs.internal:${BGJOBS_INGEST_HTTP_ADDR##*:}"
INGEST_CURL=(curl --cacert "$CERT_DIR/ca.pem"
    --connect-to "ingest.bgjobs.internal:${BGJOBS_INGEST_HTTP_ADDR##*:}:$BGJOBS_INGEST_HTTP_ADDR")
ACCOUNT="bench-$run_id"
CLIENT="acme"

deploy/stack.sh up >/dev/null
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    cargo build --quiet -p jobs-registry -p ingest -p product-upload -p jobsctl --bins
fi

"$BIN/jobsctl" dev-certs --out "$CERT_DIR" >/dev/null

# Ingest starts jobs only for a user's bearer token: the bench signs its own (RS256),
# standing in for an identity provider, with a key made here.
openssl genrsa -out "$BENCH_DIR/token.key" 2048 2>/dev/null
openssl rsa -in "$BENCH_DIR/token.key" -pubout -out "$BENCH_DIR/token.pub" 2>/dev/null
export BGJOBS_AUTH_PUBLIC_KEY_FILE="$BENCH_DIR/token.pub" BGJOBS_AUTH_ISSUER=bgjobs-bench
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
issued=$(date +%s)
token_header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
token_claims=$(printf '{"sub":"bench","name":"bench","account":"%s","roles":["AdminBackgroundJobView","AdminBackgroundJobRetry"],"iss":"bgjobs-bench","aud":"bgjobs","iat":%d,"exp":%d}' \
    "$ACCOUNT" "$issued" $((issued + 12 * 3600)) | b64url)
token_signature=$(printf '%s.%s' "$token_header" "$token_claims" |
    openssl dgst -sha256 -sign "$BENCH_DIR/token.key" | b64url)
TOKEN="$token_header.$token_claims.$token_signature"
# jobsctl calls as the operators' tool; each service gets its own certificate in start.
export BGJOBS_TLS_CERT_FILE="$CERT_DIR/jobsctl.pem" BGJOBS_TLS_KEY_FILE="$CERT_DIR/jobsctl.key"

pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

# Polls "$@" every 200 ms for up to 60 s.
wait_for() {
    local what=$1
    shift
    for _ in $(seq 300); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "gave up waiting for $what; see $BENCH_DIR/*.log" >&2
    exit 1
}

start() {
    local name=$1
    BGJOBS_TLS_CERT_FILE="$CERT_DIR/$name.pem" BGJOBS_TLS_KEY_FILE="$CERT_DIR/$name.key" \
        "$BIN/$name" >"$BENCH_DIR/$name.log" 2>&1 &
    pids+=($!)
    last_pid=$!
}

# Writes a product file of about $2 MB to $1, one row at a time.
generate() {
    local path=$1 megabytes=$2
    awk -v limit=$((megabytes * 1000 * 1000)) 'BEGIN {
        header = "sku,name,description,barcode,weight_kg,price,hs_code,country_of_origin"
        print header; written = length(header) + 1
        for (row = 1; written < limit; row++) {
            line = sprintf("SKU-%09d,Product %d,A sturdy product number %d for the warehouse,,%d.250,%d.99,847130,DE",
                row, row, row, row % 50, row % 1000)
            print line; written += length(line) + 1
        }
    }' >"$path"
}

kib_of() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }

start jobs-registry
wait_for "the jobs registry" "$BIN/jobsctl" jobs list --account "$ACCOUNT" --limit 1
psql -q "$BGJOBS_DATABASE_URL" -v ON_ERROR_STOP=1 \
    -c "INSERT INTO catalog.clients (account_id, client_id, name) VALUES ('$ACCOUNT', '$CLIENT', 'ACME Corp') ON CONFLICT DO NOTHING"
start ingest
wait_for "ingest" "${INGEST_CURL[@]}" -fsS "$INGEST_URL/readyz"

results=()
baseline_kib=""
for megabytes in "${SIZES[@]}"; do
    file="$BENCH_DIR/products-${megabytes}MB.csv"
    echo "==> ${megabytes} MB: generating $file" >&2
    generate "$file" "$megabytes"
    rows=$(($(wc -l <"$file") - 1))
    bytes=$(stat -c %s "$file")

    # A fresh consumer per size: VmHWM is the peak of this process's life.
    start product-upload
    consumer=$last_pid
    wait_for "product-upload" grep -q "consuming product uploads" "$BENCH_DIR/product-upload.log"
    idle_kib=$(kib_of "$consumer" VmRSS)

    echo "==> ${megabytes} MB: uploading $rows rows" >&2
    began=$(date +%s.%N)
    # -T streams the file from disk (--data-binary @file would read it all into memory).
    # As the gateway does for a user: its certificate, the user's token.
    response=$("${INGEST_CURL[@]}" -sS --fail-with-body -X POST -T "$file" -H 'Content-Type: text/csv' \
        --cert "$CERT_DIR/gateway.pem" --key "$CERT_DIR/gateway.key" \
        -H "Authorization: Bearer $TOKEN" \
        "$INGEST_URL/v1/accounts/$ACCOUNT/jobs/product-upload?client_id=$CLIENT&file_name=products-${megabytes}MB.csv")
    uploaded=$(date +%s.%N)
    job_id=$(sed -n 's/.*"job_id":"\([^"]*\)".*/\1/p' <<<"$response")
    [ -n "$job_id" ] || { echo "the upload was not accepted: $response" >&2; exit 1; }

    while true; do
        details=$("$BIN/jobsctl" jobs show --account "$ACCOUNT" "$job_id")
        status=$(sed -n 's/^status: *\([A-Za-z ]*\) (attempt.*/\1/p' <<<"$details" | head -1)
        case "$status" in
            Completed) break ;;
            Error) echo "job $job_id failed:" >&2; echo "$details" >&2; exit 1 ;;
        esac
        sleep 0.5
    done
    finished=$(date +%s.%N)
    peak_kib=$(kib_of "$consumer" VmHWM)
    kill -TERM "$consumer"
    wait "$consumer" 2>/dev/null || true
    mv "$BENCH_DIR/product-upload.log" "$BENCH_DIR/product-upload-${megabytes}MB.log"
    [ "${BENCH_KEEP_FILES:-0}" = 1 ] || rm -f "$file"

    [ -n "$baseline_kib" ] || baseline_kib=$peak_kib
    results+=("$(awk -v mb="$megabytes" -v bytes="$bytes" -v rows="$rows" -v b="$began" -v u="$uploaded" \
        -v f="$finished" -v idle="$idle_kib" -v peak="$peak_kib" -v base="$baseline_kib" 'BEGIN {
        printf "| %s MB | %.1f | %d | %.1f | %.1f | %.1f | %.1f | %.2fx |", mb, bytes / 1e6, rows,
            u - b, f - b, idle / 1024, peak / 1024, peak / base }')")
    echo "${results[-1]}" >&2
done

echo
echo "| file | bytes (MB) | rows | upload (s) | upload to Completed (s) | idle RSS (MiB) | peak RSS (MiB) | peak vs baseline |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${results[@]}"
