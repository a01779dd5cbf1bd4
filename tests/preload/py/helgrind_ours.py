"""helgrind_ours.py TOP LOG... — the helgrind errors (tests/preload/threads.sh)
with a frame in the shim (TOP/shim, core, policy or libtlsshim.so): each
one printed, then "N errors with a frame of ours".
"""
import re, sys
top = sys.argv[1].rstrip("/")
ours = re.compile(r"(%s/(shim|core|policy)/|libtlsshim\.so)" % re.escape(top))
n = 0
for path in sys.argv[2:]:
    try:
        text = open(path).read()
    except OSError:
        print("missing log %s" % path); n += 1; continue
    if "ERROR SUMMARY" not in text:
        print("no ERROR SUMMARY in %s (helgrind did not finish)" % path); n += 1
    for block in re.split(r"\n==\d+== -{20,}\n", text):
        if re.search(r"Possible data race|lock order|unlocked a|Thread #\d+: ", block) and ours.search(block):
            n += 1
            print("\n".join(l for l in block.splitlines() if l.strip("= 0123456789"))[:3000])
            print("----")
print("%d errors with a frame of ours" % n)
