"""The local stack's SMTP handler for aiosmtpd: keeps every message in a Maildir,
except for two reserved domains (RFC 2606) that let tests, and anyone trying the
system, see what a mail server's refusals do to a notification: every recipient at
undeliverable.test is refused for good (550), every one at busy.test for now (451).

Run as: PYTHONPATH=deploy python3 -m aiosmtpd -n -l 127.0.0.1:2525 \
    -c smtp_handler.Mailbox /tmp/bgjobs-mail
"""

from aiosmtpd.handlers import Mailbox as MaildirMailbox

REFUSED_DOMAIN = "undeliverable.test"
BUSY_DOMAIN = "busy.test"


class Mailbox(MaildirMailbox):
    """aiosmtpd's Maildir handler with a domain whose mailboxes do not exist and one
    whose mailboxes are always busy."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        domain = address.lower().rpartition("@")[2]
        if domain == REFUSED_DOMAIN:
            return "550 mailbox unavailable"
        if domain == BUSY_DOMAIN:
            return "451 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"
