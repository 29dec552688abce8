# The two commands of the README, and a few helpers.
.PHONY: run test faults bench lint docs stack stack-clean

## Runs the whole system and shows a real product upload go through it.
run:
	deploy/run.sh

## Runs every check and test against the real local stack (what CI runs).
## Leftovers of earlier runs (test databases, buckets, queues) are removed first.
test: stack
	deploy/browser.sh
	deploy/stack.sh clean
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	deploy/k8s-check.sh
	cargo build --workspace --all-targets
	deploy/image.sh --debug --no-build target/image-layout
	cargo test --workspace --no-fail-fast

## The fault-injection suite alone (part of `make test` too): kills, restarts,
## duplicates, a poison file and SIGTERM against real processes and services.
faults: stack
	cargo test -p bgjobs-e2e --test faults

## The benchmark: bgjobs beside its baselines, release build (docs/performance.md).
## Not part of `make test`. Arguments: make bench BENCH_ARGS="--runs 5 --rows 400000".
bench: stack
	cargo build --release --bin jobs-registry --bin ingest --bin product-upload --bin delete-client --bin notifier --bin gateway --bin bgjobs-bench
	target/release/bgjobs-bench $(BENCH_ARGS)

## Lints only.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## Writes docs/configuration.md again from the settings' declarations (a test
## fails while the committed page differs from them).
docs:
	UPDATE_DOCS=1 cargo test -p bgjobs-e2e --test e2e configuration::the_configuration_reference

## Starts the local stack (Postgres, RabbitMQ, NATS, SeaweedFS) if it is not running.
stack:
	deploy/stack.sh up

## Drops the databases and buckets tests leave behind.
stack-clean:
	deploy/stack.sh clean
