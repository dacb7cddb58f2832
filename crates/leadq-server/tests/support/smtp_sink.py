"""A real SMTP server (aiosmtpd) for leadq's tests.

Listens on 127.0.0.1 at a free port, prints "PORT <n>" once it accepts
connections, and writes every message it receives to DIR as <n>.eml with
the envelope in <n>.json. With --reject-first N it answers the first N
messages with a temporary failure (451), to exercise retries.

Usage: python3 smtp_sink.py DIR [--reject-first N]
"""

import asyncio
import json
import os
import socket
import sys

from aiosmtpd.controller import Controller


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
        with open(base + ".json", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        os.replace(base + ".eml.tmp", base + ".eml")
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    directory = sys.argv[1]
    reject_first = 0
    if "--reject-first" in sys.argv:
        reject_first = int(sys.argv[sys.argv.index("--reject-first") + 1])
    os.makedirs(directory, exist_ok=True)
    port = free_port()
    controller = Controller(Sink(directory, reject_first), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"PORT {port}", flush=True)
    try:
        # Runs until the test kills it or closes stdin.
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
