#!/usr/bin/env python3
"""Submission latency: the same client and messages sent through the DANE
Mail proxy and directly to the provider's submission port.

usage: submit.py COUNT PROXY_PORT PROXY_CA PROXY_PASSWORD POSTFIX_PORT POSTFIX_CA RCPT

Each message: a new connection, STARTTLS, AUTH, one 100 KB message, QUIT
(what a mail client does per send). Runs are interleaved (proxy, direct,
proxy, …) so drift hits both alike; prints medians and the ratio.
"""
import os
import smtplib
import ssl
import statistics
import sys
import time

count, proxy_port, proxy_ca, proxy_pw, pf_port, pf_ca, rcpt = sys.argv[1:]
count = int(count)
body = (b"x" * 98 + b"\r\n") * 1024  # 100 KiB of 100-byte lines
def message(n):
    return (b"From: me@provider.test\r\nTo: " + rcpt.encode() + b"\r\nSubject: bench " + str(n).encode() +
            b"\r\nMessage-ID: <bench" + str(n).encode() + b"." + os.urandom(4).hex().encode() +
            b"@provider.test>\r\nContent-Type: text/plain\r\n\r\n" + body)

def send(port, ca, user, password, n):
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.ehlo("bench.test")
        smtp.starttls(context=ssl.create_default_context(cafile=ca))
        smtp.ehlo("bench.test")
        smtp.login(user, password)
        smtp.sendmail("me@provider.test", [rcpt], message(n))
    return time.perf_counter() - start

# Warm-up: DNS cache, TLS session setup paths, Postfix processes.
for n in range(3):
    send(int(proxy_port), proxy_ca, "danemail", proxy_pw, n)
    send(int(pf_port), pf_ca, "me@provider.test", "provider-secret", n)
proxy, direct = [], []
for n in range(count):
    proxy.append(send(int(proxy_port), proxy_ca, "danemail", proxy_pw, n))
    direct.append(send(int(pf_port), pf_ca, "me@provider.test", "provider-secret", n))
p, d = statistics.median(proxy), statistics.median(direct)
print(f"{count} x 100 KiB to {rcpt}, one connection each (STARTTLS + AUTH + 1 message)")
print(f"  through danemail:     median {p*1000:.1f} ms  (p90 {sorted(proxy)[int(count*0.9)-1]*1000:.1f} ms)")
print(f"  direct to Postfix:    median {d*1000:.1f} ms  (p90 {sorted(direct)[int(count*0.9)-1]*1000:.1f} ms)")
print(f"  ratio danemail/direct: {p/d:.2f}")
