#!/usr/bin/python3
"""Draws grafana/dashboards/bocker.json as a PNG from real data: the panel range queries that
tests/daemon/grafana_test.cpp ran against a real Prometheus scraping bockerd.

  BOCKER_GRAFANA_DUMP=/tmp/grafana-dump.json BOCKER_GRAFANA_SECONDS=60 \\
      build/tests/test_daemon --gtest_filter=GrafanaPrometheus.*
  /usr/bin/python3 grafana/render_png.py /tmp/grafana-dump.json grafana/dashboard.png

Panels keep the dashboard's grid positions; a panel whose metrics bockerd did not export shows
"no data". Needs python3-matplotlib.
"""
import json
import math
import os
import re
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("render_png.py: needs matplotlib (apt-get install python3-matplotlib)")

HERE = os.path.dirname(os.path.abspath(__file__))
BG, PANEL, FG, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
COLORS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a"]


def legend_text(fmt, labels):
    if not fmt:
        return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__") + "}"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def scale(unit, values):
    """Values in a readable unit and the axis label."""
    big = max((abs(v) for v in values if math.isfinite(v)), default=0)
    if unit in ("bytes", "Bps"):
        for div, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"), (1, "B")):
            if big >= div or div == 1:
                return [v / div for v in values], name + ("/s" if unit == "Bps" else "")
    if unit == "s":
        if big < 1:
            return [v * 1000 for v in values], "ms"
        return values, "s"
    if unit == "percentunit":
        return [v * 100 for v in values], "% of a core"
    return values, ""


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: render_png.py PANEL_DATA.json OUT.png")
    data = json.load(open(sys.argv[1]))
    dash = json.load(open(os.path.join(HERE, "dashboards", "bocker.json")))
    by_panel = {}
    for p in data["panels"]:
        by_panel.setdefault(p["panel"], []).append(p)
    t0 = float(data["start"])

    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dash["panels"])
    cell_w, cell_h = 0.75, 0.42  # inches per grid column / row
    fig = plt.figure(figsize=(24 * cell_w, rows * cell_h + 0.8), facecolor=BG)
    fig.text(0.01, 1 - 0.35 / (rows * cell_h + 0.8), dash["title"] + "  ·  " + dash["description"], color=FG,
             fontsize=13, va="center")
    top = 1 - 0.8 / (rows * cell_h + 0.8)
    for p in dash["panels"]:
        g = p["gridPos"]
        x, w = g["x"] / 24, g["w"] / 24
        y = top - (g["y"] + g["h"]) / rows * top
        h = g["h"] / rows * top
        if p["type"] == "row":
            fig.text(x + 0.005, y + h / 2, p["title"], color=FG, fontsize=12, weight="bold", va="center")
            continue
        ax = fig.add_axes([x + 0.006, y + 0.012, w - 0.012, h - 0.03], facecolor=PANEL)
        ax.set_title(p["title"], color=FG, fontsize=10, loc="left")
        ax.tick_params(colors=FG, labelsize=7)
        for s in ax.spines.values():
            s.set_color(GRID)
        ax.grid(color=GRID, linewidth=0.5)
        series = []
        for q in by_panel.get(p["title"], []):
            for r in q["result"]:
                pts = [(float(t) - t0, float(v)) for t, v in r["values"]]
                series.append((legend_text(q["legend"], r["metric"]), pts, q["unit"]))
        if not series:
            ax.text(0.5, 0.5, "no data", color="#8e8e8e", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        if p["type"] == "stat":
            ax.set_xticks([])
            ax.set_yticks([])
            n = len(series)
            for i, (name, pts, _) in enumerate(sorted(series)):
                last = next((v for _, v in reversed(pts) if math.isfinite(v)), float("nan"))
                cx = (i + 0.5) / n
                ax.text(cx, 0.55, f"{last:g}", color=COLORS[i % len(COLORS)], fontsize=20, ha="center",
                        transform=ax.transAxes, weight="bold")
                ax.text(cx, 0.25, name, color=FG, fontsize=8, ha="center", transform=ax.transAxes)
            continue
        # One scale for the whole panel, from every value in it.
        _, unit_label = scale(series[0][2], [v for _, pts, _ in series for _, v in pts])
        factor = {"GiB": 1 << 30, "MiB": 1 << 20, "KiB": 1 << 10, "ms": 1e-3, "% of a core": 1e-2}.get(
            unit_label.replace("/s", ""), 1)
        for i, (name, pts, unit) in enumerate(series[:8]):
            vals = [v / factor for _, v in pts]
            ax.plot([t for t, _ in pts], vals, color=COLORS[i % len(COLORS)], linewidth=1.2, label=name)
        ax.set_ylabel(unit_label, color=FG, fontsize=7)
        ax.set_xlabel("seconds", color=FG, fontsize=7)
        ax.legend(fontsize=6, facecolor=PANEL, edgecolor=GRID, labelcolor=FG, loc="upper left")
    fig.savefig(sys.argv[2], dpi=80, facecolor=BG)
    print("wrote", sys.argv[2])


if __name__ == "__main__":
    main()
