"""A real SMTP server (aiosmtpd) for leadq's tests.

Listens on 127.0.0.1 at a free port, prints "PORT <n>" once it accepts
connections, and writes every message it receives to DIR as <n>.eml with
the envelope in <n>.json. With --reject-first N it answers the first N
messages with a temporary failure (451), to exercise retries. With
--starttls it makes a throwaway CA (DIR/ca.pem) and a certificate it signed
for 127.0.0.1 (openssl), and requires STARTTLS; with --auth USER:PASSWORD
it requires that login (after STARTTLS) and records it in the envelope.
--tls is the same with TLS from the first byte (as on port 465, smtps://).

Usage: python3 smtp_sink.py DIR [--reject-first N] [--starttls | --tls] [--auth USER:PASSWORD]
"""

import errno
import json
import os
import socket
import ssl
import subprocess
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    def __init__(self, directory, reject_first):
        self.directory = directory
        self.count = 0
        self.reject_left = reject_first

    async def handle_DATA(self, server, session, envelope):
        if self.reject_left > 0:
            self.reject_left -= 1
            return "451 4.3.0 try again later"
        self.count += 1
        base = os.path.join(self.directory, str(self.count))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        login = getattr(session, "auth_data", None)
        with open(base + ".json", "w") as f:
            json.dump(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    # STARTTLS sets session.ssl; TLS from the start shows
                    # on the connection itself.
                    "tls": session.ssl is not None
                    or server.transport.get_extra_info("ssl_object") is not None,
                    "login": login.decode() if isinstance(login, bytes) else None,
                },
                f,
            )
        os.replace(base + ".eml.tmp", base + ".eml")
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(directory):
    """A throwaway CA (written to DIR/ca.pem for the client to trust) and a
    server certificate it signed for 127.0.0.1 and localhost."""
    path = lambda name: os.path.join(directory, name)
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=leadq test CA", "-keyout", path("ca.key"), "-out", path("ca.pem"),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", path("key.pem"), "-out", path("server.csr"))
    with open(path("server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
        "-CAcreateserial", "-days", "2", "-out", path("cert.pem"), "-extfile", path("server.ext"))
    return path("cert.pem"), path("key.pem")


def main():
    directory = sys.argv[1]
    reject_first = 0
    if "--reject-first" in sys.argv:
        reject_first = int(sys.argv[sys.argv.index("--reject-first") + 1])
    os.makedirs(directory, exist_ok=True)
    options = {}
    if "--starttls" in sys.argv:
        cert, key = self_signed(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options.update(tls_context=context, require_starttls=True)
    if "--tls" in sys.argv:
        cert, key = self_signed(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        # aiosmtpd counts only STARTTLS as encrypted and would hide AUTH;
        # here the whole connection is TLS.
        options.update(ssl_context=context, auth_require_tls=False)
    if "--auth" in sys.argv:
        user, password = sys.argv[sys.argv.index("--auth") + 1].split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

        options.update(authenticator=authenticator, auth_required=True)
    sink = Sink(directory, reject_first)
    attempts = 20
    for attempt in range(attempts):
        # A free port can be taken by another test's server before this
        # one binds it (making the certificates takes a while): take
        # another.
        port = free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=port, **options)
        try:
            controller.start()
            break
        except OSError as e:
            if e.errno != errno.EADDRINUSE or attempt == attempts - 1:
                raise
    print(f"PORT {port}", flush=True)
    try:
        # Runs until the test kills it or closes stdin.
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
