"""Print the held-out NLU intent accuracy from `rasa test nlu` and enforce a floor.

Usage: python -m bot.nlu.report results/nlu/intent_report.json --min-accuracy 0.90
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def summarise(report: dict) -> tuple[float, list[tuple[str, float, int]]]:
    """Overall accuracy and (intent, f1, support) rows, worst first."""
    rows = [
        (name, float(v["f1-score"]), int(v["support"]))
        for name, v in report.items()
        if isinstance(v, dict) and "f1-score" in v and name not in ("macro avg", "weighted avg", "micro avg")
    ]
    return float(report["accuracy"]), sorted(rows, key=lambda r: r[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", type=Path)
    parser.add_argument("--min-accuracy", type=float, default=0.90)
    args = parser.parse_args(argv)
    accuracy, rows = summarise(json.loads(args.report.read_text(encoding="utf-8")))
    print("held-out NLU (tests/nlu/heldout.yml): per-intent F1, worst first")
    for name, f1, support in rows:
        print(f"  {name:<22} f1={f1:.3f}  n={support}")
    verdict = "ok" if accuracy >= args.min_accuracy else "BELOW FLOOR"
    print(f"held-out intent accuracy: {accuracy:.4f} (floor {args.min_accuracy:.2f}) {verdict}")
    return 0 if accuracy >= args.min_accuracy else 1


if __name__ == "__main__":
    sys.exit(main())
