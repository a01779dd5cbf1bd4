"""Whole lines from the tests' Python programs (tests/py is on PYTHONPATH).

With PYTHONUNBUFFERED set (as on the machines that run the suite) or
python3 -u, print("listening", name, flush=True) reaches the file in one
write per piece: "listening", " ", name, "\\n".  A test waiting for
'^listening' could then see the line before its second half and read it
cut short (asyncio.sh's "listening EpollSelector", seen under make
check-stress).  Such a stream is made line-buffered instead: every line
still leaves at its newline, as unbuffered output did, but in one write.
Streams that were buffered anyway are left as they are.  (This shadows
Debian's own sitecustomize, which only installs apport's hook when apport
is there; it is not on these machines.)
"""
import sys

for _s in (sys.stdout, sys.stderr):
    try:
        if _s is not None and _s.write_through:
            _s.reconfigure(write_through=False, line_buffering=True)
    except (AttributeError, ValueError, OSError):
        pass
del _s
