#!/usr/bin/env python3
"""LDAP search load: N searches per connection on C connections at once,
each `(mail=ADDRESS)` asking for userCertificate;binary; the BER is built by
hand so the client costs the same against any server.

usage: ldap_load.py PORT BASE ADDRESS SEARCHES CONNECTIONS
Prints searches/second and checks each search returned one entry.
"""
import socket
import sys
import threading
import time

port, base, address, searches, connections = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def tlv(tag, body):
    n = len(body)
    if n < 128:
        return bytes([tag, n]) + body
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body

def search(msgid):
    filt = tlv(0xA3, tlv(0x04, b"mail") + tlv(0x04, address.encode()))
    req = (tlv(0x04, base.encode()) + tlv(0x0A, b"\x02") + tlv(0x0A, b"\x00") + tlv(0x02, b"\x00") +
           tlv(0x02, b"\x00") + tlv(0x01, b"\x00") + filt + tlv(0x30, tlv(0x04, b"userCertificate;binary")))
    return tlv(0x30, tlv(0x02, msgid.to_bytes(2, "big")) + tlv(0x63, req))

def read_message(sock, buf):
    while True:
        if len(buf) >= 2:
            first = buf[1]
            if first < 128:
                header, length = 2, first
            else:
                k = first & 0x7F
                if len(buf) >= 2 + k:
                    header, length = 2 + k, int.from_bytes(buf[2:2 + k], "big")
                else:
                    header = None
            if header is not None and len(buf) >= header + length:
                message, rest = bytes(buf[:header + length]), buf[header + length:]
                return message, rest
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk

def op_tag(message):
    # SEQUENCE header, then INTEGER msgid, then the protocolOp tag.
    i = 2 if message[1] < 128 else 2 + (message[1] & 0x7F)
    i += 2 + message[i + 1]
    return message[i]

errors = []
def worker():
    try:
        sock = socket.create_connection(("127.0.0.1", int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        for n in range(searches):
            sock.sendall(search(n + 1))
            entries = 0
            while True:
                message, buf = read_message(sock, buf)
                tag = op_tag(message)
                if tag == 0x64:
                    entries += 1
                elif tag == 0x65:
                    break
            if entries != 1:
                errors.append(f"search {n}: {entries} entries")
                return
        sock.close()
    except Exception as e:  # noqa: BLE001 - report, do not hide
        errors.append(repr(e))

threads = [threading.Thread(target=worker) for _ in range(connections)]
start = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.perf_counter() - start
if errors:
    print("errors:", errors[:3])
    sys.exit(1)
print(f"{searches * connections / elapsed:.0f}")
