"""Shared helpers for the benchmark scripts' reports: percentiles, tables, summary rows.

Every script writes bench/results/<name>.summary.csv with SUMMARY_FIELDS; bench/run-all merges
them into summary.csv / summary.md / summary.png.
"""
import csv
import statistics

SUMMARY_FIELDS = ["benchmark", "engine", "unit", "median", "p10", "p90", "n", "ratio", "ratio_of",
                  "target", "met", "note"]


def pct(values, q):
    """q-th percentile (0..100), linear interpolation between closest ranks."""
    v = sorted(values)
    if not v:
        return None
    if len(v) == 1:
        return v[0]
    k = (len(v) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def describe(values):
    """median, p10, p90, min, max, n of a list of numbers (None fields when empty)."""
    return {"median": statistics.median(values) if values else None, "p10": pct(values, 10),
            "p90": pct(values, 90), "min": min(values, default=None), "max": max(values, default=None),
            "n": len(values)}


def fmt(v, f="{:.3f}"):
    return "-" if v is None else f.format(v)


def text_table(hdr, rows):
    w = [max(len(str(hdr[i])), *(len(str(r[i])) for r in rows)) if rows else len(hdr[i])
         for i in range(len(hdr))]
    out = ["  ".join(str(h).ljust(w[i]) if i == 0 else str(h).rjust(w[i]) for i, h in enumerate(hdr))]
    for r in rows:
        out.append("  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i]) for i, c in enumerate(r)))
    return "\n".join(out)


def md_table(hdr, rows):
    out = ["| " + " | ".join(map(str, hdr)) + " |", "|" + "---|" * len(hdr)]
    out += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(out)


def target_check(value, op, limit):
    """'met' / 'NOT met' / '-' for value <op> limit, op one of '<=' and '>='."""
    if value is None or limit is None:
        return "-"
    ok = value <= limit if op == "<=" else value >= limit
    return "met" if ok else "NOT met"


def write_summary(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in SUMMARY_FIELDS})
