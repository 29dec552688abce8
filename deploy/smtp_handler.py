"""The local stack's SMTP handler for aiosmtpd: keeps every message in a Maildir,
except that it refuses, with a permanent 550, every recipient at the reserved domain
undeliverable.test. That lets tests (and anyone trying the system) see what a
mailbox that does not exist does to a notification.

Run as: PYTHONPATH=deploy python3 -m aiosmtpd -n -l 127.0.0.1:2525 \
    -c smtp_handler.Mailbox /tmp/bgjobs-mail
"""

from aiosmtpd.handlers import Mailbox as MaildirMailbox

REFUSED_DOMAIN = "undeliverable.test"


class Mailbox(MaildirMailbox):
    """aiosmtpd's Maildir handler with one domain whose mailboxes do not exist."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith("@" + REFUSED_DOMAIN):
            return "550 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"
