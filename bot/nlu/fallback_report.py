"""How well out-of-scope messages are caught, and how rarely in-scope ones fall back.

Parses every example of a held-out file with the trained model (the whole NLU
pipeline, FallbackClassifier included, which `rasa test nlu` leaves out) and reports:
the share of out_of_scope examples answered as out_of_scope or nlu_fallback, and the
share of in-scope examples that fell back. Fails below the floors given.

    python -m bot.nlu.fallback_report --model models/bankbot.tar.gz \\
        --nlu tests/nlu/heldout.yml --min-oos-caught 0.80 --max-in-scope-fallback 0.03
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

CAUGHT = {"out_of_scope", "nlu_fallback"}


async def measure(model: Path, nlu: Path) -> tuple[int, int, int, int]:
    """(out-of-scope total, caught, in-scope total, fell back)."""
    from rasa.core.agent import Agent
    from rasa.shared.nlu.training_data.loading import load_data

    agent = Agent.load(str(model))
    data = load_data(str(nlu))
    oos = caught = in_scope = fell_back = 0
    for example in data.intent_examples:
        label = example.get("intent")
        parsed = await agent.parse_message(example.get("text"))
        predicted = parsed["intent"]["name"]
        if label == "out_of_scope":
            oos += 1
            caught += predicted in CAUGHT
        else:
            in_scope += 1
            fell_back += predicted == "nlu_fallback"
    return oos, caught, in_scope, fell_back


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--nlu", type=Path, action="append", required=True)
    parser.add_argument("--min-oos-caught", type=float, default=0.80)
    parser.add_argument("--max-in-scope-fallback", type=float, default=0.03)
    args = parser.parse_args(argv)
    ok = True
    for nlu in args.nlu:
        oos, caught, in_scope, fell_back = asyncio.run(measure(args.model, nlu))
        caught_share = caught / oos if oos else 1.0
        fallback_share = fell_back / in_scope if in_scope else 0.0
        good = caught_share >= args.min_oos_caught and fallback_share <= args.max_in_scope_fallback
        ok = ok and good
        print(
            f"{nlu}: out-of-scope caught {caught}/{oos} = {caught_share:.3f} "
            f"(floor {args.min_oos_caught:.2f}); in-scope fell back {fell_back}/{in_scope} = "
            f"{fallback_share:.3f} (ceiling {args.max_in_scope_fallback:.2f}) "
            + ("ok" if good else "OUT OF BOUNDS")
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
