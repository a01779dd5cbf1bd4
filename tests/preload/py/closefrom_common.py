"""closefrom_common.py: what closefrom_own.py and closefrom_own_linger.py
share (tests/preload/closefrom_own.sh): the process's descriptors as
/proc/self/fd and fdinfo tell them, and HOW (closefrom / close_range) with
the library's own descriptors looked up before and after."""
import ctypes, os

libc = ctypes.CDLL(None, use_errno=True)


def fds():
    """{number: "target flags OCTAL"} of every open descriptor."""
    d = {}
    for n in os.listdir("/proc/self/fd"):
        try:
            t = os.readlink("/proc/self/fd/" + n)
            with open("/proc/self/fdinfo/" + n) as f:
                flags = [l.split()[1] for l in f if l.startswith("flags:")][0]
            d[int(n)] = "%s flags %s" % (t, flags)
        except (OSError, IndexError):
            pass
    return d


def cloexec(v):
    """A value of fds(): close-on-exec (the library's own are; what the
    runner leaves open is not)."""
    return int(v.split()[-1], 8) & 0o2000000


def close_around(how, first, before):
    """Print BEFORE (the library's own), close from FIRST by HOW
    (closefrom(first) or close_range(first, ~0U, 0)), print which of
    BEFORE is no longer open on the same file ("own lost K: ...")."""
    print("own before %d: %s" % (len(before),
                                 " ".join("%d=%s" % kv for kv in sorted(before.items()))))
    if how == "closefrom":
        libc.closefrom(first)
    else:
        libc.close_range(first, 0xFFFFFFFF, 0)
    after = fds()
    lost = [k for k, v in sorted(before.items()) if after.get(k) != v]
    print("own lost %d: %s" % (len(lost),
                               " ".join("%d=%s" % (k, after.get(k, "closed")) for k in lost)))
