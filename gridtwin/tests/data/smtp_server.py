"""A real SMTP server for the notification tests: aiosmtpd (Debian's python3-aiosmtpd) on
127.0.0.1:PORT that requires STARTTLS with CERT/KEY, then AUTH as site/secret, and prints each
message it takes as one JSON line on stdout ("ready" first). Stops when stdin closes."""

import json
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Keep:
    async def handle_DATA(self, server, session, envelope):
        print(
            json.dumps(
                {
                    "from": envelope.mail_from,
                    "to": envelope.rcpt_tos,
                    "tls": session.ssl is not None,
                    "login": session.authenticated,
                    "data": envelope.content.decode("utf-8", "replace"),
                }
            ),
            flush=True,
        )
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"site"
        and auth_data.password == b"secret"
    )
    return AuthResult(success=ok)


port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)
server = Controller(
    Keep(),
    hostname="127.0.0.1",
    port=port,
    tls_context=tls,
    require_starttls=True,
    authenticator=authenticate,
    auth_require_tls=True,
)
server.start()
print("ready", flush=True)
sys.stdin.read()
server.stop()
