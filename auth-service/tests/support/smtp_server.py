#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for the e-mail tests of auth-service.

    smtp_server.py PORT LOG_FILE [--auth USER:PASSWORD] [--tls CERT KEY] [--reject ADDRESS]...

Listens on 127.0.0.1:PORT. --auth requires a login with that one account (PLAIN or LOGIN, allowed
without TLS). --tls offers STARTTLS with that certificate and requires it. --reject answers 550
to RCPT TO for that address. Each message received is appended to LOG_FILE as one JSON line:
{"from", "rcpts", "auth", "tls", "raw", "headers": {From, To, Reply-To, Subject (decoded)},
"content_type", "parts": [{"type", "content"}]}. Prints "ready" once it accepts connections,
and stops when stdin closes or the process is killed.
"""
import argparse
import warnings
import email
import email.policy
import json
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, log_file, rejected):
        self.log_file = log_file
        self.rejected = {a.lower() for a in rejected}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.rejected:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        msg = email.message_from_string(text, policy=email.policy.default)
        parts = []
        for part in msg.walk():
            if part.get_content_maintype() == "multipart":
                continue
            parts.append({"type": part.get_content_type(), "content": part.get_content()})
        entry = {
            "from": envelope.mail_from,
            "rcpts": list(envelope.rcpt_tos),
            "auth": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
            "tls": session.ssl is not None,
            "raw": text,
            "headers": {h: str(msg.get(h)) if msg.get(h) is not None else None
                        for h in ("From", "To", "Reply-To", "Subject")},
            "content_type": msg.get_content_type(),
            "parts": parts,
        }
        with open(self.log_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        return "250 OK queued"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("log_file")
    p.add_argument("--auth")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--reject", action="append", default=[])
    args = p.parse_args()
    # AUTH without TLS is what the plain-SMTP tests need.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

    kwargs = {}
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls[0], args.tls[1])
        kwargs.update(tls_context=context, require_starttls=True)

    controller = Controller(Handler(args.log_file, args.reject), hostname="127.0.0.1",
                            port=args.port, **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
