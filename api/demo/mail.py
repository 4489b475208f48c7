"""Mail dialogues with Postfix and Dovecot: SMTP delivery (RFC 5321) and IMAP (RFC 3501)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from api.demo.http import http_date
from api.demo.network import MS
from api.demo.tcp import Turn

_HOST = "mail.city.example"
_EHLO_REPLY = (
    f"250-{_HOST}\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-ETRN\r\n"
    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n"
)


@dataclass(frozen=True)
class Letter:
    sender: str
    recipient: str
    subject: str
    text: str

    def message(self, at_us: int, message_id: str) -> bytes:
        headers = [
            f"From: {self.sender}",
            f"To: {self.recipient}",
            f"Subject: {self.subject}",
            f"Date: {http_date(at_us).replace('GMT', '+0000')}",
            f"Message-ID: <{message_id}>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        return ("\r\n".join(headers) + "\r\n\r\n" + self.text.replace("\n", "\r\n")).encode()


def _client(text: str, delay_us: int = 2 * MS) -> Turn:
    return Turn(True, text.encode(), delay_us)


def _server(text: str, delay_us: int = 300) -> Turn:
    return Turn(False, text.encode(), delay_us)


def smtp_delivery(client_name: str, letter: Letter, at_us: int, queue_id: str) -> list[Turn]:
    """An MTA handing one message to Postfix; the client sends QUIT and then closes."""
    message = letter.message(at_us, f"{queue_id.lower()}@{client_name}")
    return [
        _server(f"220 {_HOST} ESMTP Postfix (Ubuntu)\r\n", 1 * MS),
        _client(f"EHLO {client_name}\r\n"),
        _server(_EHLO_REPLY),
        _client(f"MAIL FROM:<{letter.sender}> SIZE={len(message)}\r\n"),
        _server("250 2.1.0 Ok\r\n"),
        _client(f"RCPT TO:<{letter.recipient}>\r\n"),
        _server("250 2.1.5 Ok\r\n"),
        _client("DATA\r\n"),
        _server("354 End data with <CR><LF>.<CR><LF>\r\n"),
        Turn(True, message + b"\r\n.\r\n", 2 * MS),
        _server(f"250 2.0.0 Ok: queued as {queue_id}\r\n", 3 * MS),
        _client("QUIT\r\n"),
        _server("221 2.0.0 Bye\r\n"),
    ]


def imap_session(user: str, password: str, letters: list[Letter], at_us: int) -> list[Turn]:
    """A mail client signs in, lists the inbox and reads the newest message; Dovecot then closes."""
    caps = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN"
    plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    newest = letters[-1].message(at_us, "newest@city.example")
    envelopes = "".join(
        f"* {i} FETCH (UID {i} FLAGS (\\Seen) RFC822.SIZE {len(m.message(at_us, 'x'))} "
        f'ENVELOPE (NIL "{m.subject}" (("" NIL "{m.sender.split("@")[0]}" '
        f'"{m.sender.split("@")[1]}")) NIL NIL NIL NIL NIL NIL NIL))\r\n'
        for i, m in enumerate(letters, start=1)
    )
    n = len(letters)
    return [
        _server(f"* OK [CAPABILITY {caps}] Dovecot (Ubuntu) ready.\r\n", 1 * MS),
        _client(f"a1 AUTHENTICATE PLAIN {plain}\r\n", 30 * MS),
        _server(f"a1 OK [CAPABILITY {caps} SORT THREAD=REFERENCES MOVE] Logged in\r\n", 4 * MS),
        _client("a2 SELECT INBOX\r\n"),
        _server(
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
            f"* {n} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1767225600] UIDs valid\r\n"
            f"* OK [UIDNEXT {n + 1}] Predicted next UID\r\n"
            "a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"
        ),
        _client(f"a3 UID FETCH 1:{n} (FLAGS RFC822.SIZE ENVELOPE)\r\n"),
        _server(envelopes + "a3 OK Fetch completed (0.001 + 0.000 secs).\r\n"),
        _client(f"a4 UID FETCH {n} BODY.PEEK[]\r\n", 1500 * MS),
        Turn(
            False,
            f"* {n} FETCH (UID {n} BODY[] {{{len(newest)}}}\r\n".encode()
            + newest
            + b")\r\na4 OK Fetch completed (0.001 + 0.000 secs).\r\n",
            300,
        ),
        _client("a5 LOGOUT\r\n", 9000 * MS),
        _server("* BYE Logging out\r\na5 OK Logout completed (0.001 + 0.000 secs).\r\n"),
    ]
