"""mkmptcp.py OUT CASE — write a pcap file (raw IPv4) with one MPTCP
connection (client 127.0.0.1:40000 -> 127.0.0.1:443, MP_CAPABLE both ways)
and a subflow that joins it (port 40001, MP_JOIN with the server's token),
for the wire audit's self-test (tests/infra/wireaudit.sh).  The first
subflow carries a TLS handshake record at the client's first data sequence
number (a DSS mapping); the joined subflow maps its bytes to that same data
sequence number (a reinjection):
  again     the same bytes (as Linux resends data on another subflow)
  differ    as many bytes of plain text instead
  lostjoin  as again, plus a subflow to port 8080 (no rule) whose MP_JOIN
            token names no connection in the capture, with plain text
The zero-window cases (no joined subflow) send the record in two parts on
the first subflow:
its first 10 bytes, then a zero-window probe as Linux sends it (a one-byte
mapping at the last data sequence number acknowledged, whose byte is the
next one not yet sent: mptcp_sendmsg_frag()), then the record's other 15:
  probe     the probe's byte is the record's 11th (it differs from its 10th)
  probebad  the probe's byte is an "X", not the record's 11th
  probelost the probe, and the record's other 15 bytes never sent
The DATA_FIN cases (no joined subflow) end the client's data stream with a
DATA_FIN (DSS flag F) on the mapping of its last bytes, whose data-level
length counts the DATA_FIN's sequence number (RFC 8684, 3.3.3):
  datafin     the record's first 10 bytes, then its other 15 with the
              DATA_FIN (data-level length 16, as Linux sends it)
  datafinpast its first 24 bytes with the DATA_FIN (length 25), then its
              last byte at the next subflow sequence number, no mapping
              of its own: no mapping places it (the DATA_FIN's number is
              no byte's)
  datafinnone a DATA_FIN mapping of no payload at subflow sequence number
              1 (length 1), then the record with no mapping: a mapping
              was seen (no fallback to TCP), and none places the record
"""
import hashlib, struct, sys

out, case = sys.argv[1], sys.argv[2]
KC, KS = bytes(range(1, 9)), bytes(range(11, 19))


def idsn(key):
    return struct.unpack("!Q", hashlib.sha256(key).digest()[24:])[0]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def packet(sp, dp, seq, ack, flags, opts=b"", payload=b""):
    opts += b"\x01" * (-len(opts) % 4)
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xffffffff, ack & 0xffffffff,
                      (5 + len(opts) // 4) << 4, flags, 65535, 0, 0) + opts + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + tcp


def dss(dsn, ssn, n, fin=False):
    return struct.pack("!BBBBQIH", 30, 18, 0x20, 0x04 | 0x08 | (0x10 if fin else 0), dsn, ssn, n)


SYN, ACK, PSH = 0x02, 0x10, 0x08
record = b"\x16\x03\x03\x00\x14" + b"ABCDEFGHIJKLMNOPQRST"
again = record if case in ("again", "lostjoin") else b"plain text, 25 bytes!!!!!"[:len(record)]
C, S, C2, S2 = 1000, 5000, 7000, 9000
pk = [
    packet(40000, 443, C, 0, SYN, b"\x1e\x04\x01\x81"),
    packet(443, 40000, S, C + 1, SYN | ACK, b"\x1e\x0c\x01\x81" + KS),
    packet(40000, 443, C + 1, S + 1, ACK, b"\x1e\x14\x01\x81" + KC + KS),
]
if case.startswith("probe"):
    D = idsn(KC) + 1
    pk += [packet(40000, 443, C + 1, S + 1, ACK | PSH, dss(D, 1, 10), record[:10]),
           packet(40000, 443, C + 11, S + 1, ACK | PSH, dss(D + 9, 11, 1),
                  b"X" if case == "probebad" else record[10:11])]
    if case != "probelost":
        pk += [packet(40000, 443, C + 12, S + 1, ACK | PSH, dss(D + 10, 12, 15), record[10:])]
elif case == "datafin":
    D = idsn(KC) + 1
    pk += [packet(40000, 443, C + 1, S + 1, ACK | PSH, dss(D, 1, 10), record[:10]),
           packet(40000, 443, C + 11, S + 1, ACK | PSH, dss(D + 10, 11, 15 + 1, True), record[10:])]
elif case == "datafinnone":
    D = idsn(KC) + 1
    pk += [packet(40000, 443, C + 1, S + 1, ACK, dss(D, 1, 1, True)),
           packet(40000, 443, C + 1, S + 1, ACK | PSH, b"", record)]
elif case == "datafinpast":
    D = idsn(KC) + 1
    pk += [packet(40000, 443, C + 1, S + 1, ACK | PSH, dss(D, 1, 24 + 1, True), record[:24]),
           packet(40000, 443, C + 25, S + 1, ACK | PSH, b"", record[24:])]
else:
    pk += [packet(40000, 443, C + 1, S + 1, ACK | PSH, dss(idsn(KC) + 1, 1, len(record)), record)]
if not case.startswith(("probe", "datafin")):
    pk += [
        packet(40001, 443, C2, 0, SYN, b"\x1e\x0c\x10\x00" + hashlib.sha256(KS).digest()[:4] + b"\0" * 4),
        packet(443, 40001, S2, C2 + 1, SYN | ACK, b"\x1e\x10\x10\x00" + b"\0" * 12),
        packet(40001, 443, C2 + 1, S2 + 1, ACK),
        packet(40001, 443, C2 + 1, S2 + 1, ACK | PSH, dss(idsn(KC) + 1, 1, len(again)), again),
    ]
if case == "lostjoin":
    pk += [
        packet(40002, 8080, C2, 0, SYN, b"\x1e\x0c\x10\x00" + b"\xde\xad\xbe\xef" + b"\0" * 4),
        packet(8080, 40002, S2, C2 + 1, SYN | ACK, b"\x1e\x10\x10\x00" + b"\0" * 12),
        packet(40002, 8080, C2 + 1, S2 + 1, ACK),
        packet(40002, 8080, C2 + 1, S2 + 1, ACK | PSH, dss(12345, 1, 10), b"plain text"),
    ]
with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))
    for i, p in enumerate(pk):
        f.write(struct.pack("<IIII", 1000, i, len(p), len(p)) + p)
