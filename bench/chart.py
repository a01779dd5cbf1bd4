#!/usr/bin/env python3
"""The ratios of a bench run at a glance (bench/README.md).

    python3 bench/chart.py build/bench/results.json build/bench/ratios.png

One bar per row of the table: shim / native (both ends shimmed; the thread
rows: the shimmed threaded server), with stunnel / native beside it, and
passthru / plaintext for the pass-through rows. Every bar is oriented so
that higher is better and 1.0 is "as fast as linking OpenSSL" (or, for
passthru, "as fast as without the shim"): for latency and memory, lower
values are better, so those bars show native / shim. Needs python3-matplotlib
(Debian); without it, says so and exits 0.
"""
import json
import sys

ROWS = [("bulk", "bulk"), ("pp", "handshakes"), ("ppr", "resumed"), ("lat-p50", "lat p50"),
        ("lat-p99", "lat p99"), ("lat-p999", "lat p99.9"), ("thr-1", "threads 1"), ("thr-2", "threads 2"),
        ("thr-4", "threads 4"), ("redis-set", "redis SET"), ("redis-get", "redis GET"), ("mem", "mem/conn")]
LOWER_BETTER = {"lat-p50", "lat-p99", "lat-p999", "mem"}


def ratio(summary, row, v, ref):
    a = summary.get(row, {}).get(v, {}).get("median")
    b = summary.get(row, {}).get(ref, {}).get("median")
    if not a or not b:
        return None
    return b / a if row in LOWER_BETTER else a / b


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: chart.py RESULTS.json OUT.png")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no chart: python3-matplotlib is not installed")
        return 0
    with open(sys.argv[1]) as f:
        res = json.load(f)
    s = res["summary"]
    labels, shim, stunnel = [], [], []
    for row, label in ROWS:
        r = ratio(s, row, "shim", "native")
        if r is None:
            continue
        labels.append(label)
        shim.append(r)
        stunnel.append(ratio(s, row, "stunnel", "native"))
    plabels, pvals = [], []
    for row, label in (("bulk", "bulk"), ("lat-rate", "small requests"), ("pp", "accept storm")):
        r = ratio(s, row, "passthru", "plaintext")
        if r is not None:
            plabels.append(label)
            pvals.append(r)
    if not labels and not plabels:
        print("no chart: no ratios in %s" % sys.argv[1])
        return 0
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=80,
                             gridspec_kw={"width_ratios": [max(1, len(labels)), max(1, len(plabels)) + 1]})
    ax = axes[0]
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], shim, 0.4, label="shim / native", color="#3465a4")
    ax.bar([i + 0.2 for i in x], [v or 0 for v in stunnel], 0.4, label="stunnel / native", color="#cc6633")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("x native (higher is better)")
    ax.set_ylim(0, max([1.2] + [v + 0.25 for v in shim] + [v + 0.25 for v in stunnel if v]))
    ax.legend(fontsize=8, loc="upper left", ncol=2, framealpha=0.9)
    for i, v in enumerate(shim):
        ax.text(i - 0.2, v + 0.02, "%.2f" % v, ha="center", fontsize=7)
    ax2 = axes[1]
    ax2.bar(range(len(plabels)), pvals, 0.5, color="#4e9a06")
    ax2.axhline(1.0, color="black", lw=0.8)
    ax2.axhline(0.98, color="grey", lw=0.6, ls="--")
    ax2.set_xticks(list(range(len(plabels))))
    ax2.set_xticklabels(plabels, rotation=40, ha="right", fontsize=8)
    ax2.set_ylabel("passthru / no shim")
    ax2.set_ylim(0, max([1.2] + [v + 0.15 for v in pvals]))
    for i, v in enumerate(pvals):
        ax2.text(i, v + 0.02, "%.3f" % v, ha="center", fontsize=7)
    m = res.get("machine", {})
    fig.suptitle("tlsshim bench: %s cpu, load %s -> %s" % (m.get("nproc"), m.get("loadavg"),
                                                         m.get("loadavg_end")), fontsize=9)
    fig.tight_layout()
    fig.savefig(sys.argv[2])
    print("wrote %s" % sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
