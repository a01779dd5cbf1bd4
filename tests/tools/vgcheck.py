"""vgcheck.py TOP LOG... — the memcheck logs of one test (make check-valgrind).

Each LOG is one process's valgrind --tool=memcheck log (tests/run.sh sets
SHIM_WRAP).  Fails ("FAIL valgrind ...") on:
  * a "definitely lost" leak record with a frame of the shim in its
    allocation stack (libtlsshim.so, or a source file under TOP/shim,
    TOP/core or TOP/policy);
  * a memory error (invalid read/write/free, uninitialised value, overlap,
    bad syscall parameter) with a frame of the shim.
Leaks and errors entirely inside the host program or other libraries are
not the shim's and are only counted.  Prints one PASS line with the totals
otherwise.
"""
import os, re, sys

top = sys.argv[1].rstrip("/")
logs = sys.argv[2:]
ours = re.compile(r"(%s/(shim|core|policy)/|libtlsshim\.so)" % re.escape(top))
err_start = re.compile(r"^(Invalid (read|write|free)|Conditional jump|Use of uninitialised|"
                       r"Syscall param|Source and destination overlap|Mismatched free|"
                       r"Argument '.*' of function|Invalid alignment|Fishy value)")
leak_start = re.compile(r"^([\d,]+) bytes in ([\d,]+) blocks are (definitely|indirectly|possibly) lost")

frame = re.compile(r"^\s*(?:at|by) 0x[0-9A-Fa-f]+: (\S+) \((.*)\)$")


def passed_through(block):
    """A block the C library allocated for the program, through a wrapper
    of the shim that only forwards the call and returns the result (the
    shim's getaddrinfo() calls the real one, looks at the list and returns
    it): the program owns it, and a leak of it is the program's (a program
    that never calls freeaddrinfo).  That is: the stack's only frame of
    ours is a function named as the C library function just inside it."""
    frames = [frame.match(l) for l in block[1:]]
    frames = [(m.group(1), m.group(2)) for m in frames if m]
    mine = [i for i, (fn, where) in enumerate(frames) if ours.search(where)]
    if len(mine) != 1 or mine[0] == 0:
        return False
    i = mine[0]
    return frames[i][0] == frames[i - 1][0] and not ours.search(frames[i - 1][1])


procs = summaries = 0
bad = []
lost_ours = lost_other = 0
errs_other = 0
for path in logs:
    if not os.path.isfile(path):
        continue
    procs += 1
    lines = []
    for l in open(path, errors="replace"):
        m = re.match(r"^==\d+== ?(.*)$", l.rstrip("\n"))
        lines.append(m.group(1) if m else l.rstrip("\n"))
    text = "\n".join(lines)
    if "LEAK SUMMARY" in text or "All heap blocks were freed" in text:
        summaries += 1
    cmd = next((l[len("Command: "):] for l in lines if l.startswith("Command: ")), "?")
    # blocks are separated by empty lines
    block = []
    for l in lines + [""]:
        if l.strip():
            block.append(l)
            continue
        if block:
            head = block[0]
            body = "\n".join(block)
            lm = leak_start.match(head)
            if lm and lm.group(3) == "definitely":
                n = int(lm.group(1).replace(",", ""))
                if ours.search(body) and not passed_through(block):
                    lost_ours += n
                    bad.append("definite leak with a frame of the shim, in %s (%s):\n%s" % (cmd, os.path.basename(path), body))
                else:
                    lost_other += n
            elif err_start.match(head):
                if ours.search(body):
                    bad.append("memory error with a frame of the shim, in %s (%s):\n%s" % (cmd, os.path.basename(path), body))
                else:
                    errs_other += 1
        block = []

if procs == 0:
    print("FAIL valgrind memcheck: no memcheck log (did the test start any program under the shim?)")
    sys.exit(1)
for b in bad:
    print("FAIL valgrind memcheck: " + "\n    ".join(b.splitlines()[:45]))
if not bad:
    print("PASS valgrind memcheck: %d processes (%d with a leak summary): no definite leak and no memory "
          "error with a frame in the shim (outside it: %d bytes definitely lost, %d errors, the host "
          "programs' own)" % (procs, summaries, lost_other, errs_other))
sys.exit(1 if bad else 0)
