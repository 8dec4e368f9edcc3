"""``python -m bench.summary RUN.json …``: how far several full runs (``--json``) agree.

For each figure: the median of each run's median, the range of those medians, the range of the
ratios, and in how many runs the goal was met. Absolute times drift with the machine's load; this
shows by how much, and whether the ratios held.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from .table import fmt, ratio_text


def summarize(docs: list[dict[str, Any]]) -> str:
    figures: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        for row in doc["rows"]:
            figures.setdefault(row["figure"], []).append(row)
    loads = ", ".join(doc["machine"].split("load ")[-1].split(",")[0] for doc in docs)
    lines = [
        f"{len(docs)} runs (1-minute load average at the end of each: {loads})",
        "",
        "| # | figure | ours: median of run medians (range) | ratio (range) | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for figure, rows in figures.items():
        measured = [r for r in rows if r["ours"] is not None]
        if not measured:
            lines.append(f"| {figure} | {rows[0]['what']} | TODO | – | {rows[0]['goal']} | – |")
            continue
        unit = measured[0]["ours"]["unit"]
        medians = [float(r["ours"]["median"]) for r in measured]
        ratios = [float(r["ratio"]) for r in measured if r["ratio"] is not None]
        met = [r["met"] for r in measured if r["met"] is not None]
        mid, lo, hi = (fmt(v, unit) for v in (statistics.median(medians), min(medians), max(medians)))
        up = bool(measured[0].get("higher_is_better"))
        # Least favourable end first: "161x faster … 177x faster", "1.82x … 2.51x".
        ends = sorted({min(ratios), max(ratios)}, reverse=not up and max(ratios) < 1) if ratios else []
        ratio = " … ".join(dict.fromkeys(ratio_text(r, up) for r in ends)) or "–"
        verdict = f"{sum(met)}/{len(met)}" if met else "info"
        cells = [figure, measured[0]["what"], f"{mid} ({lo}–{hi})", ratio, measured[0]["goal"], verdict]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    docs = [json.loads(Path(p).read_text()) for p in argv]
    print(summarize(docs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
