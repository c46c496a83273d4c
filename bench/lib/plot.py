"""bench/run-all's plot: one panel per benchmark, a bar per engine (median, p10-p90 whiskers).

Usage: plot.py SUMMARY_CSV OUT_PNG MACHINE   (needs matplotlib: Debian's python3-matplotlib)
"""
import csv
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

src, out, machine = sys.argv[1:4]
rows = list(csv.DictReader(open(src)))
groups = {}
for r in rows:
    if r["median"] not in ("", None):
        groups.setdefault(r["benchmark"], []).append(r)
if not groups:
    print("plot.py: nothing to plot", file=sys.stderr)
    sys.exit(0)
colors = {"bocker": "#2b7bba", "docker": "#8e8e8e", "podman": "#a0522d", "skopeo": "#6a9f3a", "nginx": "#009639"}
cols = 3
n = len(groups)
nrows = math.ceil(n / cols)
fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 2.6 * nrows), squeeze=False)
for ax, (bench, rs) in zip(axes.flat, groups.items()):
    names = [r["engine"] for r in rs]
    med = [float(r["median"]) for r in rs]
    lo = [med[i] - float(r["p10"]) if r["p10"] else 0 for i, r in enumerate(rs)]
    hi = [float(r["p90"]) - med[i] if r["p90"] else 0 for i, r in enumerate(rs)]
    y = range(len(rs))
    ax.barh(y, med, xerr=[lo, hi], color=[colors.get(e, "#999") for e in names], capsize=3)
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    unit = rs[0]["unit"]
    better = "higher is better" if unit in ("MB/s", "containers/s", "req/s") else "lower is better"
    ax.set_title(bench, fontsize=9)
    ax.set_xlabel(f"{unit} ({better})", fontsize=8)
    ax.tick_params(labelsize=8)
    for i, r in enumerate(rs):
        label = f"{med[i]:.3g}"
        if r.get("ratio"):
            label += f"  ({r['ratio_of'].split(' ')[0]} {float(r['ratio']):.3g})"
        ax.text(med[i] + hi[i], i, " " + label, va="center", fontsize=7)
    ax.set_xlim(0, max(m + h for m, h in zip(med, hi)) * 1.6 or 1)
for ax in list(axes.flat)[n:]:
    ax.axis("off")
fig.suptitle(f"bocker benchmarks beside their peers — {machine}", fontsize=10)
fig.tight_layout()
fig.savefig(out, dpi=110)
print(f"wrote {out}")
