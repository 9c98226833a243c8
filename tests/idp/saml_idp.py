"""A real SAML 2.0 identity provider for Terrace's SSO tests: pysaml2's IdP (`saml2.server.Server`) over HTTP.

    python saml_idp.py   with IDP_PORT, IDP_DIR (a folder for its key, certificate and the SP's metadata),
                         SP_ENTITY_ID and SP_ACS_URL (Terrace's SAML service provider)

pysaml2 parses the SP's AuthnRequest (HTTP-Redirect binding) and builds a signed Response with a signed
assertion (xmlsec1 signs), posted back to the SP's ACS by the usual auto-submitting form. The login page
takes any user name. Attributes per account: uid, email, username, groups (multi-valued); a test changes them
between logins with  PUT /_control/accounts/<id>  (JSON object of attribute -> list of values).
Serves its metadata at /metadata. Prints "READY <base url>" once it listens.
"""
import datetime
import html
import json
import os
import secrets
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import AUTHN_PASSWORD, NAMEID_FORMAT_PERSISTENT
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

PORT = int(os.environ["IDP_PORT"])
BASE = f"http://127.0.0.1:{PORT}"
FOLDER = Path(os.environ["IDP_DIR"])
SP_ENTITY_ID = os.environ["SP_ENTITY_ID"]
SP_ACS_URL = os.environ["SP_ACS_URL"]

ACCOUNTS = {}
PENDING = {}  # login form key -> parsed AuthnRequest and RelayState


def write_key_and_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "terrace-test-idp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    (FOLDER / "idp.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    (FOLDER / "idp.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def write_sp_metadata():
    """Terrace's SP as this IdP knows it: entity id and ACS (what an admin registers at a real IdP)."""
    (FOLDER / "sp.xml").write_text(f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{SP_ENTITY_ID}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"
      AuthnRequestsSigned="false" WantAssertionsSigned="true">
    <md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{SP_ACS_URL}" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>""")


def config():
    conf = IdPConfig()
    conf.load({
        "entityid": f"{BASE}/metadata",
        "service": {"idp": {
            "name": "Terrace test IdP",
            "endpoints": {"single_sign_on_service": [(f"{BASE}/sso/redirect", BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_PERSISTENT],
            "sign_response": True,
            "sign_assertion": True,
            "want_authn_requests_signed": False,
            "policy": {"default": {"lifetime": {"minutes": 15}, "attribute_restrictions": None,
                                   "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}},
        }},
        "key_file": str(FOLDER / "idp.key"),
        "cert_file": str(FOLDER / "idp.crt"),
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "metadata": {"local": [str(FOLDER / "sp.xml")]},
        "allow_unknown_attributes": True,
    })
    return conf


def attributes(account):
    defaults = {"uid": [account], "email": [f"{account}@example.test"], "username": [account], "groups": []}
    return {**defaults, **ACCOUNTS.get(account, {})}


class Handler(BaseHTTPRequestHandler):
    server_version = "terrace-test-saml-idp"

    def log_message(self, fmt, *args):
        sys.stdout.write(f"{self.command} {self.path.split('?')[0]}\n")
        sys.stdout.flush()

    def reply(self, status, body, content_type="text/html; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def form(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/metadata":
            return self.reply(200, create_metadata_string(None, config=IDP.config, sign=False).decode(),
                              "application/samlmetadata+xml")
        if url.path == "/sso/redirect":
            query = urllib.parse.parse_qs(url.query)
            try:
                request = IDP.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
            except Exception as exc:  # a broken request gets an error page, as a real IdP would
                return self.reply(400, f"<h1>Bad SAML request</h1><p>{html.escape(str(exc))}</p>")
            key = secrets.token_urlsafe(16)
            PENDING[key] = (request, query.get("RelayState", [""])[0])
            return self.reply(200, f"""<!doctype html><title>Test IdP sign-in</title>
<h1>Test SAML IdP</h1><form method="post" action="/sso/login"><input type="hidden" name="key" value="{key}">
<input name="username" placeholder="any user name" required><button type="submit">Log in</button></form>""")
        self.reply(404, "not found")

    def do_POST(self):
        if self.path != "/sso/login":
            return self.reply(404, "not found")
        fields = urllib.parse.parse_qs(self.form())
        pending = PENDING.pop(fields.get("key", [""])[0], None)
        if pending is None:
            return self.reply(400, "<h1>Unknown or used sign-in</h1>")
        request, relay_state = pending
        account = fields["username"][0]
        message = request.message
        response = IDP.create_authn_response(
            attributes(account), in_response_to=message.id, destination=SP_ACS_URL,
            sp_entity_id=message.issuer.text, name_id_policy=message.name_id_policy, userid=account,
            authn={"class_ref": AUTHN_PASSWORD, "authn_auth": BASE},
            sign_response=True, sign_assertion=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256,
        )
        http_args = IDP.apply_binding(BINDING_HTTP_POST, str(response), SP_ACS_URL, relay_state, response=True)
        self.reply(200, http_args["data"])

    def do_PUT(self):
        prefix = "/_control/accounts/"
        if not self.path.startswith(prefix):
            return self.reply(404, "not found")
        account = urllib.parse.unquote(self.path[len(prefix):])
        ACCOUNTS[account] = json.loads(self.form() or "{}")
        self.reply(200, json.dumps(attributes(account)), "application/json")


if __name__ == "__main__":
    FOLDER.mkdir(parents=True, exist_ok=True)
    write_key_and_certificate()
    write_sp_metadata()
    IDP = Server(config=config())
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    print(f"READY {BASE}", flush=True)
    server.serve_forever()
