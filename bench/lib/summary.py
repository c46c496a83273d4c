"""bench/run-all's summary: merges each benchmark's results into summary.csv and summary.md.

Usage: summary.py RESULTS MACHINE STATUS_TSV TOTAL_SECONDS QUICK COMMIT PLOT(1: summary.png is drawn)
                  [STEAL_WARN_PCT (10)]
STATUS_TSV: one "name<TAB>status<TAB>seconds<TAB>steal%" line per benchmark run now (steal%: the
hypervisor steal time over the benchmark, bench/lib/steal.sh; may be empty); only benchmarks that
finished ok in this run are summarized (stale result files of other runs are ignored).
"""
import csv
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchstats import SUMMARY_FIELDS, describe, md_table, target_check, write_summary  # noqa: E402

results, machine, status_tsv, total_s, quick, commit, plot = sys.argv[1:8]
steal_warn = float(sys.argv[8]) if len(sys.argv) > 8 else 10.0
status = {}
steal = {}
for line in status_tsv.splitlines():
    if line.strip():
        name, st, secs, stl = (line.split("\t") + ["", "", ""])[:4]
        status[name] = (st, secs)
        if stl:
            steal[name] = float(stl)
ok = {n for n, (s, _) in status.items() if s == "ok"}
rows = []


def pull_rows():
    path = f"{results}/pull.csv"
    raw = list(csv.DictReader(open(path)))
    tools = list(dict.fromkeys(r["tool"] for r in raw))
    st = {t: describe([float(r["seconds"]) for r in raw if r["tool"] == t and r["ok"] == "1"]) for t in tools}
    b = st.get("bocker", {}).get("median")
    limits = {"docker": 0.4, "skopeo": 0.5}
    out = []
    for t in tools:
        s = st[t]
        r = b / s["median"] if (b and s["median"] and t != "bocker") else None
        lim = limits.get(t)
        out.append({"benchmark": "pull (178 MB, 6 layers, local registry)", "engine": t, "unit": "s",
                    "median": s["median"], "p10": s["p10"], "p90": s["p90"], "n": s["n"],
                    "ratio": None if r is None else round(r, 3), "ratio_of": "" if r is None else f"bocker/{t}",
                    "target": f"<= {lim}" if lim and r is not None else "",
                    "met": target_check(r, "<=", lim) if lim else "",
                    "note": "download only, nothing unpacked" if t == "skopeo" else ""})
    return out


def scrape_rows():
    data = json.load(open(f"{results}/scrape.json"))
    its = [b for b in data.get("benchmarks", []) if b.get("run_type", "iteration") == "iteration"
           and b.get("name", "").startswith("BM_Scrape/1000")]
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
    ms = [b["real_time"] * scale.get(b.get("time_unit", "ns"), 1e-6) for b in its]
    s = describe(ms)
    return [{"benchmark": "metrics scrape, 1000 containers (fake cgroup tree on tmpfs)", "engine": "bocker",
             "unit": "ms", "median": s["median"], "p10": s["p10"], "p90": s["p90"], "n": s["n"],
             "target": "<= 100", "met": target_check(s["median"], "<=", 100), "note": "no peer measured"}]


def summary_rows(name):
    return [dict(r) for r in csv.DictReader(open(f"{results}/{name}.summary.csv"))]


order = ["pull", "run", "density", "logs", "http", "scrape"]
problems = []
for name in order:
    if name not in ok:
        continue
    try:
        if name == "pull":
            rows += pull_rows()
        elif name == "scrape":
            rows += scrape_rows()
        else:
            rows += summary_rows(name)
    except (OSError, ValueError, KeyError) as e:
        problems.append(f"{name}: results unreadable: {e}")

for r in rows:
    for k in ("median", "p10", "p90"):
        v = r.get(k)
        if v not in (None, ""):
            v = float(v)
            r[k] = f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
write_summary(f"{results}/summary.csv", rows)

# Versions: the "- engine: version" lines the benchmarks' Markdown files start with.
versions = {}
for name in order:
    p = f"{results}/{name}.md"
    if name not in ok or not os.path.exists(p):
        continue
    for line in open(p):
        m = re.match(r"- (bocker|docker|podman|skopeo|nginx): (?!skipped)(.*)", line.strip())
        if m and m.group(1) not in versions:
            versions[m.group(1)] = m.group(2)

hdr = ["benchmark", "engine", "unit", "median", "p10", "p90", "n", "ratio", "ratio of", "target", "met?", "note"]
table = [[r.get("benchmark", ""), r.get("engine", ""), r.get("unit", ""), r.get("median") or "-",
          r.get("p10") or "-", r.get("p90") or "-", r.get("n") or "-", r.get("ratio") or "-",
          r.get("ratio_of") or "", r.get("target") or "", r.get("met") or "", r.get("note") or ""] for r in rows]
with open(f"{results}/summary.md", "w") as f:
    f.write("# Benchmark summary (bench/run-all)\n\n")
    contended = [n for n in order if steal.get(n, 0) > steal_warn]
    if contended:
        f.write(f"**Host contended: hypervisor steal above {steal_warn:g}% during "
                + ", ".join(f"{n} ({steal[n]:.1f}%)" for n in contended)
                + " — those figures are unreliable; rerun when the host is quiet.**\n\n")
    f.write(f"- machine: {machine}\n- bocker commit: {commit}\n")
    f.write(f"- total time: {float(total_s) / 60:.1f} min" + (" — quick mode (small N: a smoke run, not the targets' conditions)" if quick == "1" else "") + "\n")
    for e, v in versions.items():
        f.write(f"- {e}: {v}\n")
    f.write("\n" + md_table(hdr, table) + "\n\n## Benchmarks\n\n")
    for name in order:
        if name in status:
            st, secs = status[name]
            f.write(f"- {name}: {st}" + (f" in {float(secs):.0f} s" if secs else "")
                    + (f", host steal {steal[name]:.1f}%" if name in steal else "")
                    + (f" — details in [{name}.md]({name}.md)" if name in ok and os.path.exists(f'{results}/{name}.md') else "") + "\n")
    for p in problems:
        f.write(f"- {p}\n")
    if plot == "1":
        f.write("\n![summary](summary.png)\n")
print()
print(open(f"{results}/summary.md").read())
print(f"wrote {results}/summary.md and summary.csv")
