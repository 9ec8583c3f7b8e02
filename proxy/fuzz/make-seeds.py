#!/usr/bin/env python3
"""Writes the committed seed corpora, seeds/<target>/, from the fixtures.

Run from anywhere; needs openssl(1). Re-running rewrites the seeds (the
encrypted ones differ each time: CMS uses random keys). The seeds are small
real inputs: the fuzzer mutates from them.
"""
import base64
import hashlib
import json
import os
import pathlib
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
FIX = HERE / "fixtures"
SEEDS = HERE / "seeds"


def write(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def b64(s):
    return base64.b64encode(s).decode()


MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: rsa2048@smime.test, Eve <ec256@smime.test>\r\n"
    b"Cc: plain@example.com, tempfail@example.net\r\n"
    b"Bcc: rhidden@example.org, both@example.org, xrefused@example.org\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
    b"Message-ID: <seed-1@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    b"\r\n"
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\nHello =C3=BC\r\n.\r\n..dot\r\n"
    b"--b1\r\nContent-Type: application/octet-stream; name=a.bin\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b1--\r\n"
)


def smtp():
    plain = b64(b"\0user\0pass")
    write("smtp_session", "full", b"\x07" +
          b"EHLO client.test\r\nAUTH PLAIN " + plain.encode() + b"\r\n"
          b"MAIL FROM:<alice@example.org> SIZE=300 BODY=8BITMIME\r\n"
          b"RCPT TO:<rsa2048@smime.test>\r\nRCPT TO:<ec256@smime.test>\r\n"
          b"RCPT TO:<tempfail@example.net>\r\nRCPT TO:<xrefused@example.org>\r\n"
          b"RCPT TO:<plain@example.com>\r\nDATA\r\n" + MESSAGE + b".\r\nQUIT\r\n")
    write("smtp_session", "auth-login-pipelined", b"\x03" +
          b"EHLO c\r\nAUTH LOGIN\r\n" + b64(b"user").encode() + b"\r\n" +
          b64(b"pass").encode() + b"\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\n"
          b"DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    # SMTP smuggling look-alikes inside DATA (issue 12, finding 3).
    write("smtp_session", "smuggling", b"\x01" +
          b"EHLO c\r\nAUTH PLAIN " + plain.encode() + b"\r\nMAIL FROM:<a@b.example>\r\n"
          b"RCPT TO:<r@x.example>\r\nDATA\r\nSubject: s\r\n\r\none\n.\nMAIL FROM:<e@v.il>\n"
          b"two\r.\r\nthree\n.\r\nfour\r\n.\nfive\r\r\n.\r\n")
    write("smtp_session", "empty-and-long", b"\x1f" +
          b"HELO c\r\nAUTH PLAIN " + plain.encode() + b"\r\nMAIL FROM:<>\r\nRCPT TO:<p@q.example>\r\n"
          b"DATA\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<p@q.example>\r\nDATA\r\n" +
          b"x" * 1200 + b"\r\n.\r\nSTARTTLS\r\n")
    write("smtp_session", "errors", b"\x05" +
          b"MAIL FROM:<a@b>\r\nEHLO\r\nAUTH PLAIN\r\n" + b"A" * 1100 + b"\r\n*\r\n"
          b"AUTH CRAM-MD5\r\nVRFY x\r\nBDAT 10 LAST\r\n0123456789RCPT TO:<>\r\nHELP\r\n\r\n")


def ber(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def integer(v, tag=0x02):
    return ber(tag, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big"))


def octets(s, tag=0x04):
    return ber(tag, s.encode() if isinstance(s, str) else s)


def message(msgid, op, controls=b""):
    return ber(0x30, integer(msgid) + op + controls)


def search(base, filt, attrs, scope=2, size=0, time=0, types_only=False):
    return ber(0x63, octets(base) + integer(scope, 0x0A) + integer(0, 0x0A) + integer(size)
               + integer(time) + ber(0x01, b"\xff" if types_only else b"\x00") + filt
               + ber(0x30, b"".join(octets(a) for a in attrs)))


def equality(attr, value):
    return ber(0xA3, octets(attr) + octets(value))


def substring_initial(attr, initial):
    return ber(0xA4, octets(attr) + ber(0x30, octets(initial, 0x80)))


def ldap():
    """Requests as Thunderbird, Outlook and ldapsearch send them (RFC 4511 BER)."""
    bind = message(1, ber(0x60, integer(3) + octets("") + octets("", 0x80)))
    bind_pw = message(1, ber(0x60, integer(3) + octets("cn=user") + octets("secret", 0x80)))
    unbind = message(9, ber(0x42, b""))
    write("ldap_request", "thunderbird", bind + message(2, search(
        "dc=dane,dc=mail", equality("mail", "rsa2048@smime.test"), ["usercertificate;binary"])) + unbind)
    outlook_filter = ber(0xA1, equality("mail", "ec256@smime.test") + equality("cn", "ec256@smime.test")
                         + equality("proxyAddresses", "smtp:ec256@smime.test")
                         + substring_initial("mail", "rsa") + substring_initial("sn", "ali")
                         + ber(0xA2, equality("cn", "x@y.example")))
    write("ldap_request", "outlook", bind + message(2, search(
        "dc=dane,dc=mail", ber(0xA0, outlook_filter + ber(0x87, b"objectClass")),
        ["mail", "userSMIMECertificate", "cn"], size=1, time=5)))
    write("ldap_request", "root-dse", message(1, search(
        "", ber(0x87, b"objectClass"), ["+", "namingContexts", "supportedLDAPVersion"], scope=0)))
    write("ldap_request", "bind-outside-write", bind_pw + message(2, search(
        "o=elsewhere", equality("mail", "a@b.example"), [], types_only=True))
        + message(3, ber(0x4A, b"cn=x"))  # delete
        + message(4, ber(0x77, octets("1.3.6.1.4.1.1466.20037", 0x80)))  # StartTLS
        + message(5, ber(0x50, integer(2))))  # abandon


def mime():
    write("mime_plan", "multipart", MESSAGE)
    write("mime_plan", "already-encrypted",
          b"From: a@example.org\r\nTo: rsa2048@smime.test\r\nBcc: b@example.org\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n"
          b"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\r\n")
    write("mime_plan", "folded-8bit",
          b"From: a@example.org\r\nTo:\r\n rsa2048@smime.test,\r\n\t\"B, C\" <bc@example.org>\r\n"
          b"Subject: caf\xc3\xa9\r\nContent-Type: text/plain;\r\n charset=\"utf-8\"\r\n"
          b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9\r\n")


def smimea():
    for name in ("rsa", "ec"):
        der = subprocess.run(["openssl", "x509", "-in", FIX / f"{name}.pem", "-outform", "DER"],
                             capture_output=True, check=True).stdout
        write("smimea_record", f"{name}-300", b"\x03\x00\x00" + der)
        write("smimea_record", f"{name}-301", b"\x03\x00\x01" + hashlib.sha256(der).digest())
        spki = subprocess.run(
            f"openssl x509 -in {FIX / (name + '.pem')} -pubkey -noout | openssl pkey -pubin -outform DER",
            shell=True, capture_output=True, check=True).stdout
        write("smimea_record", f"{name}-310", b"\x03\x01\x00" + spki)
        write("smimea_record", f"{name}-200", b"\x02\x00\x00" + der)


def spool():
    der = subprocess.run(["openssl", "x509", "-in", FIX / "rsa.pem", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    record = {
        "id": "20261201T100000-seed",
        "from": "alice@example.org",
        "created": 1796000000,
        "recipients": [
            {"address": "rsa2048@smime.test", "certificates": [b64(der)]},
            {"address": "plain@example.com", "certificates": []},
            {"address": "rhidden@example.org", "certificates": ["bm90IGEgY2VydA=="]},
        ],
    }
    js = json.dumps(record, separators=(",", ":")).encode()
    write("spool_received", "built", b"\x01" + MESSAGE + b"\0" + js)
    mark = f"\n#danemail-record {len(MESSAGE)} {len(js)} {hashlib.sha256(js).hexdigest()}\n"
    write("spool_received", "as-on-disk", b"\x00" + MESSAGE + js + mark.encode())
    write("spool_received", "torn", b"\x00" + MESSAGE + js[: len(js) // 2])


def config():
    write("config", "example", (HERE.parent.parent / "docs" / "CONFIG.md").read_text()
          .split("```toml", 1)[1].split("```", 1)[0])
    write("config", "full", """
[dns]
servers = ["127.0.0.1:53", "[::1]:5353"]
trust_anchor = "/etc/danemail/root.key"
timeout_ms = 1500
attempts = 3
cache_max_ttl_secs = 600
cache_negative_max_ttl_secs = 60

[policy]
mode = "require"

[smime]
cipher = "aes-256-gcm"
rsa_oaep = true
sender_certificate = "/home/me/me.pem"

[smtp]
listen = "127.0.0.1:2587"
danger_allow_non_loopback = false
username = "me"
password_file = "/run/secret"
hostname = "laptop.local"
max_message_size = 1048576
max_recipients = 200
max_connections = 8
max_connections_per_peer = 4
pre_auth_timeout_secs = 10
command_timeout_secs = 60
data_timeout_secs = 120

[upstream]
host = "smtp.example.net"
port = 465
security = "tls"
username = "me@example.net"
password_file = "/run/upstream"
ca_file = "/etc/ssl/extra.pem"
timeout_secs = 30

[ldap]
enabled = true
listen = "127.0.0.1:1389"
base_dn = "dc=dane,dc=mail"
password_file = "/run/ldap"
search_timeout_secs = 5
idle_timeout_secs = 60
max_connections = 16
max_connections_per_peer = 8

[storage]
dir = "/var/lib/danemail"

[outbox]
retry_initial_secs = 30
retry_max_secs = 1800
max_lifetime_secs = 86400
max_parallel = 2

[inbound]
enabled = true
poll_secs = 30
idle_secs = 600
retry_secs = 30
timeout_secs = 20

[[inbound.accounts]]
name = "work"
host = "imap.example.net"
port = 993
security = "tls"
username = "me@example.net"
folders = ["INBOX", "Archive/2026"]
mirror_plaintext = true

[[inbound.accounts]]
name = "home.lab"
host = "127.0.0.1"
port = 143
security = "none"
username = "me"
password_file = "/run/imap"
danger_append_to_folder = "Decrypted"
""")
    write("config", "errors", '[dns]\ntimeout_ms = "soon"\n[smtp]\nlisten = "0.0.0.0:25"\nbogus = 1\n')


def cms(args, data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        return subprocess.run(["openssl", "cms", "-in", f.name] + args,
                              capture_output=True, check=True).stdout


def inbound():
    inner = (b"Content-Type: text/plain; charset=utf-8\r\n\r\nsecret words\r\n")
    head = (b"From: a@example.org\r\nTo: rsa2048@smime.test, ec256@smime.test\r\n"
            b"Subject: ...\r\nMessage-ID: <in-1@example.org>\r\n"
            b"Received: from mx by mx; Tue, 01 Dec 2026 10:00:00 +0000\r\n")
    certs = [str(FIX / "rsa.pem"), str(FIX / "ec.pem")]
    oaep = ["-recip", certs[0], "-keyopt", "rsa_padding_mode:oaep"]
    for name, extra, recips in (("cbc", ["-aes256"], certs), ("gcm", ["-aes-256-gcm"], certs),
                                ("oaep", ["-aes256"], oaep)):
        smime = cms(["-encrypt", "-binary"] + extra + recips, inner)
        hdr, _, body = smime.partition(b"\n\n")
        hdr = b"\r\n".join(l for l in hdr.split(b"\n") if not l.startswith(b"MIME-Version"))
        msg = head + b"MIME-Version: 1.0\r\n" + hdr + b"\r\n\r\n" + body.replace(b"\n", b"\r\n")
        write("inbound_message", f"{name}", b"\x00" + msg)
        der = cms(["-encrypt", "-binary", "-outform", "DER"] + extra + recips, inner)
        write("inbound_message", f"{name}-der", b"\x01" + der)
    # Opaque signed-data inside enveloped-data, and RFC 9788 protected headers.
    signed = cms(["-sign", "-nodetach", "-binary", "-outform", "DER", "-signer", certs[0],
                  "-inkey", str(FIX / "rsa.key")], inner)
    signed_entity = (b"Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n"
                     b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(signed).replace(b"\n", b"\r\n"))
    der = cms(["-encrypt", "-binary", "-outform", "DER", "-aes256", certs[0]], signed_entity)
    write("inbound_message", "signed-inside-der", b"\x01" + der)
    protected = (b"Content-Type: text/plain; charset=utf-8; hp=\"cipher\"\r\n"
                 b"Subject: the real subject\r\nFrom: a@example.org\r\n\r\nprotected\r\n")
    der = cms(["-encrypt", "-binary", "-outform", "DER", "-aes256", certs[1]], protected)
    write("inbound_message", "header-protection-der", b"\x01" + der)
    write("inbound_message", "plain-mirrored", b"\x02" + MESSAGE)
    write("inbound_message", "p7m-attachment", b"\x00" + head +
          b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream; name=\"smime.p7m\"\r\n"
          b"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQI=\r\n")


def lmtp():
    write("lmtp_session", "full", b"\x07" +
          b"LHLO mta.example\r\nMAIL FROM:<alice@example.org> SIZE=300 BODY=8BITMIME\r\n"
          b"RCPT TO:<rsa2048@smime.test>\r\nRCPT TO:<tempfail@example.net>\r\n"
          b"RCPT TO:<xrefused@example.org>\r\nRCPT TO:<plain@example.com>\r\n"
          b"RCPT TO:<plain@example.com>\r\nDATA\r\n" + MESSAGE + b".\r\nRSET\r\n"
          b"MAIL FROM:<>\r\nRCPT TO:<rhidden@example.org>\r\nDATA\r\nSubject: x\r\n\r\nb\n.\n\r\n.\r\nQUIT\r\n")
    write("lmtp_session", "errors", b"\x03" +
          b"EHLO c\r\nHELO c\r\nMAIL FROM:<a@b.example>\r\nLHLO\r\nLHLO c\r\nDATA\r\n"
          b"AUTH PLAIN AAAA\r\nSTARTTLS\r\nRCPT TO:<x@y.example>\r\nMAIL FROM:<a@b>\r\n"
          b"RCPT TO:<tempfail@example.net>\r\nDATA\r\n" + b"A" * 1100 + b"\r\nVRFY x\r\n")


def openpgpkey():
    """Real transferable public keys made by GnuPG in a throw-away home, for
    pgp@example.org: Curve25519, RSA-2048, sign-only, another address."""
    with tempfile.TemporaryDirectory(prefix="dmseed", dir="/tmp") as home:
        def gpg(*args):
            return subprocess.run(
                ["gpg", "--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback",
                 "--passphrase", "", "--quiet", *args],
                check=True, capture_output=True).stdout

        def key(name, uid, primary, sub):
            out = gpg("--status-fd", "1", "--quick-gen-key", uid, primary, "sign", "0").decode()
            fpr = next(l.split()[3] for l in out.splitlines() if "KEY_CREATED" in l)
            if sub:
                gpg("--quick-add-key", fpr, sub, "encr", "0")
            write("openpgpkey_record", name, gpg("--export", fpr))

        key("cv25519", "Seed <pgp@example.org>", "ed25519", "cv25519")
        key("rsa2048", "PGP@example.org", "rsa2048", "rsa2048")
        key("signonly", "pgp@example.org", "ed25519", None)
        key("otheruid", "other@example.net", "ed25519", "cv25519")
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False)
    write("openpgpkey_record", "garbage", b"\x00" + bytes(range(1, 120)))


if __name__ == "__main__":
    smtp()
    ldap()
    mime()
    smimea()
    spool()
    config()
    inbound()
    lmtp()
    openpgpkey()
    for d in sorted(SEEDS.iterdir()):
        print(d.name, len(list(d.iterdir())))
