"""P4's Celery baseline: small product uploads as many teams would build them.

Each job is a Celery task with late acknowledgement (acknowledged only once it has
run, so a worker that dies loses nothing) that reads the uploaded file from S3, parses
its CSV and inserts its rows into Postgres in one transaction. The submitting side
stores each file in S3 first and then sends the task, as an upload service would.

Run by the benchmark (tests/bench/small.rs), which passes the system's broker, S3
and database in BENCH_* variables; it starts its own worker (prefork, one process
per core) on a queue of its own and prints the jobs per second from the first
submission until the rows of the last job are in Postgres, as its last line.
"""

import argparse
import csv
import io
import os
import subprocess
import sys
import threading
import time
import uuid

import boto3
import psycopg
from celery import Celery

QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "bench-celery")
TABLE = "bench_celery_products"

app = Celery("small_uploads", broker=os.environ.get("BENCH_AMQP_URL"))
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
)

_clients = threading.local()


def s3():
    if not hasattr(_clients, "s3"):
        _clients.s3 = boto3.client(
            "s3",
            endpoint_url=os.environ["BENCH_S3_ENDPOINT"],
            region_name=os.environ.get("BENCH_S3_REGION", "us-east-1"),
            aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        )
    return _clients.s3


def database():
    if not hasattr(_clients, "database"):
        _clients.database = psycopg.connect(os.environ["BENCH_DATABASE_URL"], autocommit=True)
    return _clients.database


@app.task
def import_small(key):
    body = s3().get_object(Bucket=os.environ["BENCH_S3_BUCKET"], Key=key)["Body"].read()
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    connection = database()
    with connection.transaction():
        connection.cursor().executemany(
            f"INSERT INTO {TABLE} (sku, name, price) VALUES (%(sku)s, %(name)s, %(price)s) "
            "ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, price = EXCLUDED.price",
            rows,
        )


def small_file(job):
    lines = ["sku,name,price"]
    lines += [f"CELERY-{job}-{row},Small product {row},{row}.50" for row in (1, 2, 3)]
    return "\n".join(lines) + "\n"


def rows_stored():
    return database().execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]


def wait_for_rows(count, deadline, worker):
    while rows_stored() < count:
        if worker.poll() is not None:
            sys.exit(f"the Celery worker exited ({worker.returncode})")
        if time.monotonic() > deadline:
            sys.exit(f"only {rows_stored()} of {count} rows stored in time")
        time.sleep(0.01)


def submit(key, job):
    s3().put_object(Bucket=os.environ["BENCH_S3_BUCKET"], Key=key, Body=small_file(job).encode())
    import_small.delay(key)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--clients", type=int, required=True)
    args = parser.parse_args()

    database().execute(f"DROP TABLE IF EXISTS {TABLE}")
    database().execute(
        f"CREATE TABLE {TABLE} (sku text PRIMARY KEY, name text NOT NULL, price numeric(14,2))"
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "--quiet", "-A", "small_uploads", "worker",
         "--pool", "prefork", "--concurrency", str(os.cpu_count() or 1),
         "--loglevel", "WARNING", "-Q", QUEUE, "--without-gossip", "--without-mingle"],
        cwd=os.path.dirname(os.path.abspath(__file__)),
    )
    prefix = f"celery-{uuid.uuid4()}"
    try:
        # One job first, so that the worker is up and connected before the clock starts.
        submit(f"{prefix}/warm-up", -1)
        wait_for_rows(3, time.monotonic() + 120, worker)

        started = time.monotonic()
        next_job = iter(range(args.jobs))
        lock = threading.Lock()

        def client():
            while True:
                with lock:
                    job = next(next_job, None)
                if job is None:
                    return
                submit(f"{prefix}/{job}", job)

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_for_rows(3 + 3 * args.jobs, started + 900, worker)
        elapsed = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(60)
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(QUEUE)
        database().execute(f"DROP TABLE IF EXISTS {TABLE}")
    print(f"{args.jobs / elapsed:.3f}")


if __name__ == "__main__":
    main()
