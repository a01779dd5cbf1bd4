"""mkpcap.py OUT LINKTYPE FAMILY CASE — write a pcap file with one TCP
connection (client port 40000 -> server port 443) for the wire audit's
self-test (tests/infra/wireaudit.sh).

LINKTYPE: en10mb, null, loop, sll, sll2, raw.  FAMILY: 4 or 6.
CASE:
  good       a TLS-shaped stream both ways (handshake first, then
             application data), cut into segments that arrive out of order,
             retransmitted and duplicated; FIN both ways
  midrecord  as good, but the server's last record is cut short by its FIN
  stray      as good, with one stray plaintext byte "X" after the client's
             second record (offset printed on stdout)
  firstapp   the client's first record is application data (23)
  hole       a client segment is never captured (a hole before later data)
  badlen     a record header with length 0
  channel    plaintext both ways from 127.254.0.1 to 127.254.0.1:443 (a
             pump's channel)
  tochannel  the same plaintext from 127.0.0.1 to 127.254.0.1:443 (not
             a channel: any local process can reach that address)
"""
import struct, sys

out, link, fam, case = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
DLT = {"null": 0, "en10mb": 1, "raw": 101, "loop": 108, "sll": 113, "sll2": 276}[link]
CLI = ("127.0.0.1" if fam == 4 else "::1", 40000)
SRV = ("127.0.0.1" if fam == 4 else "::1", 443)
if case == "channel":     # plaintext on a pump channel: both ends 127.254.0.1
    CLI = ("127.254.0.1", 40000)
    SRV = ("127.254.0.1", 443)
if case == "tochannel":   # plaintext from 127.0.0.1 to the channel address
    SRV = ("127.254.0.1", 443)


def rec(t, body, ver=0x0303):
    return struct.pack("!BHH", t, ver, len(body)) + body


def ip_bytes(a):
    if fam == 4:
        return bytes(int(x) for x in a.split("."))
    return b"\x00" * 15 + b"\x01"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def packet(src, dst, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xffffffff, ack & 0xffffffff,
                      5 << 4, flags, 65535, 0, 0) + payload
    if fam == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                         ip_bytes(src[0]), ip_bytes(dst[0]))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        proto = 0x0800
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, ip_bytes(src[0]), ip_bytes(dst[0]))
        proto = 0x86dd
    pkt = ip + tcp
    if link == "en10mb":
        return b"\0" * 12 + struct.pack("!H", proto) + pkt
    if link == "null":
        return struct.pack("=I", 2 if fam == 4 else 10) + pkt
    if link == "loop":
        return struct.pack("!I", 2 if fam == 4 else 10) + pkt
    if link == "sll":
        return struct.pack("!HHH8sH", 0, 772, 6, b"\0" * 8, proto) + pkt
    if link == "sll2":
        return struct.pack("!HHIHBB8s", proto, 0, 1, 772, 0, 6, b"\0" * 8) + pkt
    return pkt


c2s = rec(22, b"C" * 300) + rec(20, b"\x01") + rec(23, b"c" * 5000) + rec(23, b"d" * 70)
s2c = rec(22, b"S" * 1200) + rec(23, b"s" * 16000) + rec(21, b"\x01\x00")
stray_at = None
if case == "stray":
    stray_at = 5 + 300 + 5 + 1
    c2s = c2s[:stray_at] + b"X" + c2s[stray_at:]
    print(stray_at)
elif case in ("channel", "tochannel"):
    c2s, s2c = b"*3\r\n$3\r\nSET\r\n" * 400, b"+OK\r\n" * 4000
elif case == "firstapp":
    c2s = rec(23, b"c" * 50) + c2s
elif case == "badlen":
    c2s = c2s + struct.pack("!BHH", 23, 0x0303, 0)
elif case == "midrecord":
    s2c = s2c + rec(23, b"t" * 3000)[:1000]

ISN_C, ISN_S = 1000, 0xfffff000      # the server's sequence numbers wrap
pkts = [packet(CLI, SRV, ISN_C, 0, 0x02),
        packet(SRV, CLI, ISN_S, ISN_C + 1, 0x12),
        packet(CLI, SRV, ISN_C + 1, ISN_S + 1, 0x10)]


def segments(data, isn, size):
    return [(isn + 1 + i, data[i:i + size]) for i in range(0, len(data), size)]


cs = segments(c2s, ISN_C, 700)
ss = segments(s2c, ISN_S, 1500)
if case == "hole":
    del cs[2]
# out of order: swap neighbours; retransmit and duplicate some
order_c = []
for i in range(0, len(cs), 2):
    order_c += cs[i:i + 2][::-1]
order_c.insert(3, cs[0])                          # a retransmission
order_s = list(ss)
order_s.insert(5, (ss[3][0] + 100, ss[3][1][100:]))   # a partial overlap
order_s.insert(2, ss[1])                          # a duplicate
for (sq, d) in order_c:
    pkts.append(packet(CLI, SRV, sq, ISN_S + 1, 0x18, d))
for (sq, d) in order_s:
    pkts.append(packet(SRV, CLI, sq, ISN_C + 1, 0x18, d))
pkts.append(packet(CLI, SRV, ISN_C + 1 + len(c2s), ISN_S + 1 + len(s2c), 0x11))
pkts.append(packet(SRV, CLI, ISN_S + 1 + len(s2c), ISN_C + 2 + len(c2s), 0x11))

with open(out, "wb") as f:
    f.write(struct.pack("=IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, DLT))
    for i, p in enumerate(pkts):
        f.write(struct.pack("=IIII", 1000 + i, 0, len(p), len(p)) + p)
