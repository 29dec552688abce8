# The local stack's SMTP server, sourced by deploy/stack.sh: aiosmtpd (PyPI), a real
# SMTP server on 127.0.0.1:2525 that accepts every message and stores it, one file per
# message, in the Maildir /tmp/bgjobs-mail (new messages under new/); it refuses every
# recipient at undeliverable.test with "550 mailbox unavailable" (deploy/smtp_handler.py). Like the port, the
# folder is the machine's, not a checkout's: a server started from one checkout serves
# the tests of another. Tests read the messages there; `make run` says where they are.

SMTP_PORT=2525
SMTP_URL="smtp://127.0.0.1:$SMTP_PORT"
MAIL_DIR=/tmp/bgjobs-mail
SMTP_LOG="$STACK_DIR/smtp.log"
SMTP_PID="$STACK_DIR/smtp.pid"

# True when the server on the SMTP port greets as an SMTP server (a 220 banner).
smtp_ready() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SMTP_PORT && head -c 3 <&3" 2>/dev/null | grep -q '^220'
}

ensure_aiosmtpd_installed() {
    python3 -c 'import aiosmtpd' 2>/dev/null && return
    echo "smtp       installing aiosmtpd from PyPI"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check aiosmtpd ||
        fail "pip install aiosmtpd failed"
}

smtp_up() {
    local started
    started=$(now_ms)
    if port_open "$SMTP_PORT"; then
        smtp_ready || fail "something answers on 127.0.0.1:$SMTP_PORT but not as an SMTP server; stop it and retry"
        echo "smtp       already running  $SMTP_URL (mail in $MAIL_DIR/new)"
        return
    fi
    ensure_aiosmtpd_installed
    mkdir -p "$MAIL_DIR"/{tmp,new,cur} "$STACK_DIR"
    rm -f "$SMTP_PID"
    # -n: stay root (it would switch to nobody and lose the Maildir); the handler takes
    # the Maildir as its argument.
    PYTHONPATH="$REPO_ROOT/deploy" setsid bash -c 'echo $$ >"$0"; exec "$@"' "$SMTP_PID" \
        python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c smtp_handler.Mailbox "$MAIL_DIR" \
        >>"$SMTP_LOG" 2>&1 </dev/null &
    wait_until "smtp" came_up "the SMTP server" smtp_ready "$SMTP_PID" "$SMTP_LOG" ||
        fail "the SMTP server did not greet on 127.0.0.1:$SMTP_PORT within ${START_DEADLINE_SECONDS}s; see $SMTP_LOG"
    echo "smtp       started          $SMTP_URL ($(elapsed_since "$started"), pid $(cat "$SMTP_PID"), mail in $MAIL_DIR/new)"
}

smtp_down() {
    local pid
    pid=$(cat "$SMTP_PID" 2>/dev/null) || true
    if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
        rm -f "$SMTP_PID"
        echo "smtp       not started by this script"
        return
    fi
    kill -TERM "$pid"
    START_DEADLINE_SECONDS=10 wait_until "smtp to stop" bash -c "! kill -0 $pid 2>/dev/null" ||
        kill -KILL "$pid" 2>/dev/null || true
    rm -f "$SMTP_PID"
    echo "smtp       stopped"
}

smtp_status() {
    local state
    smtp_ready && state=running || state=down
    echo "smtp       $state  $SMTP_URL (mail in $MAIL_DIR/new)"
}

# Messages of earlier runs: tests tell theirs apart by recipient, but each look reads
# the whole folder.
clean_mail() {
    local count=0 file
    for file in "$MAIL_DIR"/new/* "$MAIL_DIR"/cur/*; do
        [[ -f "$file" ]] || continue
        rm -f "$file"
        count=$((count + 1))
    done
    echo "smtp       deleted $count received message(s)"
}
