"""``python -m bot.trainer``: the trainer workflow for scripts / 训练师命令行.

    python -m bot.trainer inbox export [--format json|csv] [--db URL] [--limit N]
    python -m bot.trainer intents
    python -m bot.trainer add-example --intent check_balance [--user U] "查下[储蓄卡](account_type)余额" ...
    python -m bot.trainer add-intent ask_parking --topic branches --example "网点能停车吗" ...
    python -m bot.trainer add-faq lost_passbook --answer "..." --example "存折丢了怎么办" ...
    python -m bot.trainer validate [--min-examples 30] [--no-rasa]
    python -m bot.trainer train | evaluate | compare | models | activate | rollback

``--project DIR`` works on another copy of the training data (default: this repository).
Exit status: 0 done, 1 refused or failed (the reason on stderr), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from bot.settings import PROJECT_ROOT

from .nludata import Change, ProjectPaths, TrainerError

Handler = Callable[[argparse.Namespace], int]


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER
        return ""


def _project(args: argparse.Namespace) -> ProjectPaths:
    root = Path(args.project).resolve()
    if not (root / "data").is_dir() or not (root / "domain").exists():
        raise TrainerError(f"{root} has no data/ and domain/: not a bankbot project (--project)")
    return ProjectPaths(root)


def _progress(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr, disable=None, leave=False)


def _print_change(change: Change, dry_run: bool) -> None:
    if change.diff:
        print(change.diff, end="" if change.diff.endswith("\n") else "\n")
    verb = "would add" if dry_run else "added"
    print(
        f"{change.intent}: {verb} {len(change.added)} example(s) / 新增 {len(change.added)} 条",
        file=sys.stderr,
    )
    for markup in change.skipped:
        print(f"  skipped (already an example) / 已存在: {markup}", file=sys.stderr)
    if change.written:
        print(f"  written: {', '.join(change.files)} (by {change.user})", file=sys.stderr)


def _examples(texts: Sequence[str], project: ProjectPaths) -> list[Any]:
    """Examples from inline markup, spans snapped to jieba tokens (warnings on stderr)."""
    from .nludata import annotate, parse_example

    examples = []
    for text in texts:
        parsed = parse_example(text.strip())
        annotation = annotate(parsed.text, parsed.entities, project=project)
        for warning in annotation.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        examples.append(annotation.example)
    return examples


def _read_lines(path: str) -> list[str]:
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    with stream:
        return [line.strip() for line in stream if line.strip() and not line.startswith("#")]


# --- commands --------------------------------------------------------------------------


def cmd_add_example(args: argparse.Namespace) -> int:
    from .nludata import add_examples

    project = _project(args)
    texts = list(args.text) + (_read_lines(args.from_file) if args.from_file else [])
    if not texts:
        raise TrainerError("no examples: give TEXT arguments or --from-file")
    change = add_examples(
        project, args.intent, _examples(texts, project), args.user, dry_run=args.dry_run
    )
    _print_change(change, args.dry_run)
    return 0


def cmd_add_intent(args: argparse.Namespace) -> int:
    from .nludata import create_intent

    project = _project(args)
    change = create_intent(
        project,
        args.name,
        args.topic,
        _examples(args.example, project),
        args.user,
        dry_run=args.dry_run,
    )
    _print_change(change, args.dry_run)
    return 0


def cmd_add_faq(args: argparse.Namespace) -> int:
    from .nludata import create_faq

    project = _project(args)
    answer = args.answer
    if args.answer_file:
        answer = (
            Path(args.answer_file).read_text(encoding="utf-8")
            if args.answer_file != "-"
            else sys.stdin.read()
        )
    if not answer:
        raise TrainerError("the answer is missing: --answer TEXT or --answer-file FILE")
    change = create_faq(
        project,
        args.name,
        _examples(args.example, project),
        answer,
        args.user,
        dry_run=args.dry_run,
    )
    _print_change(change, args.dry_run)
    return 0


def cmd_intents(args: argparse.Namespace) -> int:
    from .nludata import list_intents

    infos = list_intents(_project(args))
    if args.format == "json":
        rows = [
            {"intent": i.intent, "topic": i.topic, "examples": i.examples, "in_domain": i.in_domain}
            for i in infos.values()
        ]
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    for info in infos.values():
        print(f"{info.intent:40} {info.topic:10} {info.examples:4}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .checks import ERROR, run_checks

    project = _project(args)
    problems: list[str] = []
    steps = 7 + (0 if args.no_rasa else 1)
    with _progress(steps, "validate") as bar:
        if not args.no_rasa:
            from bot.validate import validate

            bar.set_postfix_str("rasa data validate")
            problems = validate(str(project.domain), str(project.data), str(project.config))
            bar.update()

        def step(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update()

        findings = run_checks(project, args.min_examples, progress=step)
    severe = [f for f in findings if f.severity == ERROR]
    if args.format == "json":
        report = {
            "rasa": problems,
            "findings": [vars(f) for f in findings],
            "errors": len(severe) + len(problems),
            "warnings": len(findings) - len(severe),
        }
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        for problem in problems:
            print(f"rasa: {problem}")
        for finding in findings:
            print(finding)
        print(
            f"{len(problems)} Rasa problem(s), {len(severe)} error(s), "
            f"{len(findings) - len(severe)} warning(s)"
        )
    return 1 if problems or severe else 0


def _since(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TrainerError(f"--since: not a date or epoch seconds: {value!r}") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _open_db(url: str) -> Any:
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from bot.console.db import make_engine

    from .inbox import ensure_inbox_schema

    parsed = make_url(url)
    if (
        parsed.get_backend_name() == "sqlite"
        and parsed.database
        and not Path(parsed.database).exists()
    ):
        raise TrainerError(f"no console database at {parsed.database} (--db or CONSOLE_DB_URL)")
    engine = make_engine(url)
    if not inspect(engine).has_table("messages"):
        engine.dispose()
        raise TrainerError(
            f"{parsed.render_as_string(hide_password=True)} is not a console database (no messages table)"
        )
    ensure_inbox_schema(engine)
    return engine


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _write_csv(groups: list[dict[str, Any]], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(
        [
            "count",
            "last_at",
            "text",
            "intent",
            "confidence",
            "alternatives",
            "reasons",
            "corrected_intent",
            "known_intent",
            "tokens",
            "message_ids",
        ]
    )
    for group in groups:
        alternatives = ";".join(
            f"{a['intent']}:{a['confidence']:.3f}" if a["confidence"] is not None else a["intent"]
            for a in group["alternatives"]
        )
        writer.writerow(
            [
                group["count"],
                _iso(group["last_at"]),
                group["text"],
                group["intent"] or "",
                "" if group["confidence"] is None else f"{group['confidence']:.3f}",
                alternatives,
                ";".join(group["reasons"]),
                group["corrected_intent"] or "",
                group["known_intent"] or "",
                " ".join(t["text"] for t in group["tokens"]),
                ";".join(str(i) for i in group["message_ids"]),
            ]
        )


def cmd_inbox_export(args: argparse.Namespace) -> int:
    from bot.console.db import make_sessionmaker
    from bot.settings import Settings

    from .inbox import load_inbox

    project = _project(args)
    settings = Settings.from_env()
    engine = _open_db(args.db or settings.console_db_url)
    try:
        with make_sessionmaker(engine)() as session:
            groups = load_inbox(
                session,
                settings,
                limit=args.limit,
                since=_since(args.since),
                threshold=args.threshold,
                project=project,
            )
    finally:
        engine.dispose()
    rows = [g.as_dict(masked=not args.unmasked) for g in groups]
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
    try:
        if args.format == "csv":
            _write_csv(rows, out)
        else:
            json.dump(rows, out, ensure_ascii=False, indent=2)
            out.write("\n")
    finally:
        if out is not sys.stdout:
            out.close()
    print(
        f"{len(rows)} inbox group(s), {sum(r['count'] for r in rows)} message(s)", file=sys.stderr
    )
    return 0


def _quiet_jieba() -> None:
    """jieba logs its dictionary loading at DEBUG to stderr; keep the CLI's stderr for us."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)


# --- the parser ------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, writes: bool = False) -> None:
    """--project (and --user for writes) on a subcommand too; SUPPRESS keeps the
    top-level value when the subcommand's is not given."""
    parser.add_argument(
        "--project", default=argparse.SUPPRESS, help="project root (default: this repository)"
    )
    if writes:
        parser.add_argument(
            "--user", default=argparse.SUPPRESS, help="who makes the change (default: $USER)"
        )
        parser.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")


def _register_models(subparsers: Any) -> None:
    """train, evaluate, compare, models, activate, rollback from bot.trainer.cli_models."""
    from . import cli_models

    ours = set(subparsers.choices)
    cli_models.register(subparsers)
    # --project / --user after the command name too, unless the command defines them.
    for name, sub in subparsers.choices.items():
        if name in ours:
            continue
        for option in ("--project", "--user"):
            with contextlib.suppress(argparse.ArgumentError):
                sub.add_argument(option, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.trainer",
        description="Trainer workflow: inbox, training data, checks, models / 训练师工作流",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 ok, 1 refused or failed, 2 wrong usage.",
    )
    parser.add_argument(
        "--project", default=str(PROJECT_ROOT), help="project root (default: this repository)"
    )
    parser.add_argument(
        "--user", default=_default_user(), help="who makes the change (default: $USER)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    inbox = subparsers.add_parser("inbox", help="the NLU inbox / 待标注消息")
    inbox_commands = inbox.add_subparsers(dest="inbox_command", metavar="ACTION", required=True)
    export = inbox_commands.add_parser("export", help="export the inbox groups (JSON or CSV)")
    _common(export)
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument(
        "--db", help="console database URL (default: CONSOLE_DB_URL / var/console.db)"
    )
    export.add_argument("--limit", type=int, default=200, help="most groups (default 200)")
    export.add_argument("--since", help="only messages since (ISO date/time or epoch seconds)")
    export.add_argument(
        "--threshold", type=float, help="low-confidence threshold (default: settings)"
    )
    export.add_argument(
        "--unmasked", action="store_true", help="personal data unmasked (default: masked)"
    )
    export.add_argument("--output", "-o", help="file to write (default: stdout)")
    export.set_defaults(handler=cmd_inbox_export)

    intents = subparsers.add_parser("intents", help="intents, their topic and example counts")
    _common(intents)
    intents.add_argument("--format", choices=("text", "json"), default="text")
    intents.set_defaults(handler=cmd_intents)

    add_example = subparsers.add_parser(
        "add-example",
        help="add examples to an intent / 添加例句",
        description="TEXT uses Rasa's inline markup: 转给[李娜](payee).",
    )
    _common(add_example, writes=True)
    add_example.add_argument("--intent", required=True)
    add_example.add_argument(
        "--from-file", metavar="FILE", help="one example per line ('-': stdin)"
    )
    add_example.add_argument("text", nargs="*", metavar="TEXT")
    add_example.set_defaults(handler=cmd_add_example)

    add_intent = subparsers.add_parser("add-intent", help="create an intent / 新建意图")
    _common(add_intent, writes=True)
    add_intent.add_argument("name")
    add_intent.add_argument(
        "--topic", help="data/nlu/<topic>.yml and domain/<topic>.yml (default: _shared)"
    )
    add_intent.add_argument("--example", action="append", required=True, metavar="TEXT")
    add_intent.set_defaults(handler=cmd_add_intent)

    add_faq = subparsers.add_parser(
        "add-faq", help="create an FAQ (faq/<name>) with its answer / 新建常见问题"
    )
    _common(add_faq, writes=True)
    add_faq.add_argument("name")
    answer = add_faq.add_mutually_exclusive_group(required=True)
    answer.add_argument("--answer", help="the answer text customers get")
    answer.add_argument("--answer-file", metavar="FILE", help="the answer from a file ('-': stdin)")
    add_faq.add_argument("--example", action="append", required=True, metavar="TEXT")
    add_faq.set_defaults(handler=cmd_add_faq)

    validate = subparsers.add_parser(
        "validate", help="rasa data validate + trainer checks / 数据校验"
    )
    _common(validate)
    validate.add_argument(
        "--min-examples", type=int, default=None, help="fewest examples per intent (default 30)"
    )
    validate.add_argument("--no-rasa", action="store_true", help="skip Rasa's validator (faster)")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.set_defaults(handler=cmd_validate)

    _register_models(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "min_examples", 0) is None:
        from .checks import DEFAULT_MIN_EXAMPLES

        args.min_examples = DEFAULT_MIN_EXAMPLES
    handler = getattr(args, "handler", None) or getattr(args, "func", None)
    if handler is None:
        parser.error("no command")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    _quiet_jieba()
    try:
        return int(handler(args) or 0)
    except TrainerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into head & co.
        return 0


if __name__ == "__main__":
    sys.exit(main())
