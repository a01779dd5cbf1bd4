"""asancover.py COVBUILD SEEDDIR BASEDIR[,BASEDIR...] SCRIPTDIR... — which
interop scripts the ASan pass of make check needs (tests/tools/asan_interop.sh
runs it; docs/design.md, "Testing").

COVBUILD is a build of the library with --coverage (its obj/ holds the
.gcno files); SEEDDIR, each BASEDIR and each SCRIPTDIR is a GCOV_PREFIX
directory holding the .gcda files one run wrote: SEEDDIR a process that
only loaded the library and exited, the BASEDIRs together the unit,
preload, launcher and attack tests, a SCRIPTDIR one interop script (named
by its last path component, its tests/run.sh output in SCRIPTDIR.log).
A library line (a file under core/, policy/ or shim/) is reached when its
count is non-zero; a branch outcome when it was taken.

Prints, per script, its CPU and what it reaches that no BASEDIR does (up
to 8 of those lines).  Kept: a script that wrote no counts beyond
SEEDDIR's, or had a failed case; then, greedily, the script that adds the
most lines and branch outcomes not yet covered per CPU second, until no
script adds any.  Last, "ASAN_INTEROP = ..." (the Makefile's form).
"""
import concurrent.futures, glob, gzip, json, os, shutil, subprocess, sys, tempfile

cov = os.path.realpath(sys.argv[1])
objs = os.path.join(cov, "obj")
ours = ("core/", "policy/", "shim/")


def reached(prefix):
    """{(file, line)} and {(file, line, branch#)} reached in one prefix dir."""
    lines, branches = set(), set()
    data = os.path.join(prefix, objs.lstrip("/"))
    work = tempfile.mkdtemp(prefix="asancover.")
    try:
        todo = []
        for gcda in glob.glob(os.path.join(data, "*", "*.gcda")):
            sub = os.path.relpath(gcda, data)
            gcno = os.path.join(objs, sub[:-5] + ".gcno")
            if not os.path.exists(gcno):
                continue
            d = os.path.join(work, os.path.dirname(sub))
            os.makedirs(d, exist_ok=True)
            shutil.copy(gcda, d)
            os.symlink(gcno, os.path.join(d, os.path.basename(gcno)))
            todo.append(os.path.join(d, os.path.basename(gcda)))
        if not todo:
            return lines, branches
        # One gcov for all (-p: core/file.c and policy/file.c apart).
        out = subprocess.run(["gcov", "-j", "-b", "-p"] + todo, cwd=work, capture_output=True)
        if out.returncode != 0:
            sys.exit("gcov failed in %s: %s" % (data, out.stderr.decode(errors="replace")[:2000]))
        for js in glob.glob(os.path.join(work, "*.gcov.json.gz")):
            with gzip.open(js) as f:
                doc = json.load(f)
            for fi in doc.get("files", []):
                name = fi["file"]
                if not name.startswith(ours):
                    continue
                for ln in fi.get("lines", []):
                    if ln.get("count", 0) > 0:
                        lines.add((name, ln["line_number"]))
                    for i, br in enumerate(ln.get("branches", [])):
                        if br.get("count", 0) > 0:
                            branches.add((name, ln["line_number"], i))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return lines, branches


def failures(d):
    """The failed count of DIR.log's last line ("N passed, M failed"), if any."""
    try:
        with open(d.rstrip("/") + ".log") as f:
            last = f.read().rstrip().splitlines()[-1]
        return int(last.split(",")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return 0


# gcov waits on the disk and the CPU: a few directories at once.
def cpu(d):
    """The CPU seconds of the run's test (its summary line in DIR.log), 1 if none."""
    try:
        with open(d.rstrip("/") + ".log") as f:
            for line in f:
                if " cpu " in line and line.startswith("["):
                    return max(1, int(line.rsplit(" cpu ", 1)[1].strip().rstrip("s")))
    except (OSError, ValueError):
        pass
    return 1


seed_dir, bases, dirs = sys.argv[2], sys.argv[3].split(","), sys.argv[4:]
with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
    got = list(pool.map(reached, [seed_dir] + bases + dirs))
seed_l = got[0][0]
base_l, base_b = set(), set()
for l, b in got[1:1 + len(bases)]:
    base_l |= l
    base_b |= b
print("baseline: %d library lines, %d branch outcomes (loading the library and exiting: %d lines)"
      % (len(base_l), len(base_b), len(seed_l)))
# Each script's own: what it reaches that the baseline does not.
adds, keep = {}, []
for d, (l, b) in zip(dirs, got[1 + len(bases):]):
    name = os.path.basename(d.rstrip("/"))
    nl, nb = sorted(l - base_l), sorted(b - base_b)
    where = " ".join("%s:%d" % x for x in nl[:8]) + (" ..." if len(nl) > 8 else "")
    print("%-18s cpu %3ds, reaches %5d lines, %5d branches; adds %3d lines, %3d branches %s"
          % (name, cpu(d), len(l), len(b), len(nl), len(nb), where))
    failed = failures(d)
    if l <= seed_l:
        print("%-18s wrote no counts beyond loading the library (killed, or _exit): kept" % name)
        keep.append(name)
    elif failed:
        print("%-18s had %s failed case(s) under coverage (its counts may be short): kept" % (name, failed))
        keep.append(name)
    elif nl or nb:
        adds[name] = (set(("l",) + x for x in nl) | set(("b",) + x for x in nb), cpu(d))
# What the kept ones reach is covered; then, greedily, the script that adds
# the most not yet covered per CPU second, until none adds anything: every
# line and branch outcome some interop script adds stays reached on ASan.
covered = set()
for d, (l, b) in zip(dirs, got[1 + len(bases):]):
    if os.path.basename(d.rstrip("/")) in keep:
        covered |= set(("l",) + x for x in l - base_l) | set(("b",) + x for x in b - base_b)
while True:
    best, gain = None, 0
    for name, (items, c) in adds.items():
        g = len(items - covered) / c
        if g > gain:
            best, gain = name, g
    if best is None:
        break
    items, c = adds.pop(best)
    print("%-18s kept: adds %d not yet covered" % (best, len(items - covered)))
    covered |= items
    keep.append(best)
print("ASAN_INTEROP = " + " ".join(sorted(keep)))
