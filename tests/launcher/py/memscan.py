#!/usr/bin/env python3
"""memscan.py — search a running process's memory for a private key's bytes.

  memscan.py needles KEYFILE...      print the needles (name and hex), one a line
  memscan.py scan NEEDLES PID...     read every readable mapping of each PID
                                     through /proc/PID/mem and print one line
                                     "FOUND PID NAME ADDRESS" per needle found,
                                     then "scanned PID BYTES" (mappings over
                                     4 GiB left out and counted)

The needles of a key file: each secret number (RSA prime1, prime2,
privateExponent; EC priv) as big-endian bytes and as little-endian bytes
(how OpenSSL's BIGNUMs lie in memory on a little-endian machine), a
32-byte piece from the middle of the key's DER encoding, and a line of
its PEM text.  Numbers come from `openssl pkey -text`.
"""
import base64
import os
import re
import struct
import subprocess
import sys


# Mappings larger than this are left out: AddressSanitizer's shadow memory
# (terabytes reserved, read back as zeros) would take hours.  The line
# "scanned" says how much was skipped; the control scans (a key found
# without the holder) show the search still finds keys.
HUGE = 1 << 32


def numbers(keyfile):
    text = subprocess.run(["openssl", "pkey", "-in", keyfile, "-noout", "-text"],
                          check=True, capture_output=True, text=True).stdout
    out = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s*$", line)
        if m:
            cur = m.group(1)
            out[cur] = ""
            continue
        if cur and re.match(r"^\s+[0-9a-f:]+$", line):
            out[cur] += line.strip().replace(":", "")
        else:
            cur = None
    want = ("prime1", "prime2", "privateExponent", "priv")
    return {k: bytes.fromhex(v).lstrip(b"\0") for k, v in out.items() if k in want and v}


def needles(keyfile):
    res = []
    tag = keyfile.rsplit("/", 1)[-1]
    nums = numbers(keyfile)
    for name, val in nums.items():
        res.append((f"{tag}:{name}:be", val))
        res.append((f"{tag}:{name}:le", val[::-1]))
    pem = open(keyfile).read().splitlines()
    body = [l for l in pem if l and not l.startswith("-----")]
    der = base64.b64decode("".join(body))
    # Where a secret lies in the DER (public parts are in the certificate
    # too): 32 bytes of DER and the PEM line around it.
    secret = nums.get("priv") or nums.get("prime1")
    i = der.find(secret)
    if i < 0:
        sys.exit(f"{keyfile}: secret not found in its DER")
    res.append((f"{tag}:der", der[max(0, i - 8):i + 24]))
    line = (i + 8) // 48
    if line < len(body) and len(body[line]) >= 40:
        res.append((f"{tag}:pem", body[line].encode()))
    return res


PAGE = os.sysconf("SC_PAGE_SIZE")


def resident(pagemap, lo, hi):
    """The runs [a, b) of pages of lo..hi that are in memory or swapped
    out (/proc/PID/pagemap: bit 63 present, bit 62 swapped).  A page that
    was never touched holds nothing, and reading it through /proc/PID/mem
    would make the kernel map it (most of a sanitizer's address space);
    a key can only be in the others.  (Readable by the process's owner:
    the flags, not the frame numbers, are what this needs.)  Without
    pagemap, the whole range."""
    try:
        pagemap.seek(lo // PAGE * 8)
        raw = pagemap.read((hi - lo) // PAGE * 8)
    except OSError:
        return [(lo, hi)]
    if len(raw) != (hi - lo) // PAGE * 8:
        return [(lo, hi)]
    runs, start = [], None
    for k, (e,) in enumerate(struct.iter_unpack("<Q", raw)):
        if e & (3 << 62):
            if start is None:
                start = k
        elif start is not None:
            runs.append((lo + start * PAGE, lo + k * PAGE))
            start = None
    if start is not None:
        runs.append((lo + start * PAGE, hi))
    return runs


CHUNK = 1 << 20
ZERO = bytes(CHUNK)


def find_all(data, ns):
    """(name, offset) of the first occurrence of each needle in data.
    Most of a sanitizer's mappings are pages never written (zeros): a
    chunk that is all zeros is not searched, and every other chunk is
    searched with the needle length's margin on both sides.  No needle is
    all zeros (scan checks), so an occurrence has a non-zero byte, which
    lies in a searched chunk whose window then holds all of it.  (Searching
    every byte once per needle made the ASan run of keyholder.sh take
    40 s of CPU.)"""
    margin = max(len(nd) for _, nd in ns) - 1
    hits = {}
    for start in range(0, len(data), CHUNK):
        end = min(start + CHUNK, len(data))
        if data[start:end] == ZERO[:end - start]:
            continue
        lo, hi = max(0, start - margin), min(len(data), end + margin)
        for name, nd in ns:
            if name in hits:
                continue
            i = data.find(nd, lo, hi)
            if i >= 0:
                hits[name] = i
    return sorted(hits.items(), key=lambda kv: kv[1])


def scan(needle_file, pids):
    ns = []
    for line in open(needle_file):
        name, hx = line.split()
        ns.append((name, bytes.fromhex(hx)))
        if not ns[-1][1].strip(b"\0"):
            sys.exit(f"{needle_file}: needle {name} is all zeros")
    for pid in pids:
        total = 0
        skipped = 0
        found = set()
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem, \
                open(f"/proc/{pid}/pagemap", "rb", 0) as pagemap:
            for line in maps:
                parts = line.split()
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                if "r" not in parts[1] or (len(parts) > 5 and parts[5] in ("[vvar]", "[vsyscall]")):
                    continue
                if hi - lo > HUGE:
                    skipped += hi - lo
                    continue
                for rlo, rhi in resident(pagemap, lo, hi):
                    try:
                        mem.seek(rlo)
                        data = mem.read(rhi - rlo)
                    except OSError:
                        continue
                    total += len(data)
                    for name, off in find_all(data, ns):
                        if name not in found:
                            found.add(name)
                            print(f"FOUND {pid} {name} {rlo + off:#x}")
        print(f"scanned {pid} {total}" + (f" (skipped {skipped} bytes in mappings over {HUGE})" if skipped else ""))


def main():
    if sys.argv[1] == "needles":
        for f in sys.argv[2:]:
            for name, val in needles(f):
                print(name, val.hex())
    elif sys.argv[1] == "scan":
        scan(sys.argv[2], sys.argv[3:])
    else:
        sys.exit("usage: memscan.py needles KEYFILE... | scan NEEDLES PID...")


main()
