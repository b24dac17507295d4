"""Staff console: the trainer workflow (trainer and admin roles) under /console/trainer.

- 待标注 (NLU inbox): missed customer messages grouped by near-duplicates, with the
  prediction, the alternatives and the jieba tokens; a trainer assigns an intent (or
  creates one), marks entity spans, ignores or deletes; bulk assignment of groups.
  Texts are shown masked; an example that still contains personal data is refused.
- 新建意图 / 新建常见问题: new intents and FAQs written into data/ and domain/.
- 数据校验: Rasa's validator (a subprocess) plus bot/trainer/checks.py.
- 训练: one background training (or cross-validation) at a time, live progress and log.
- 模型版本: versions with metrics, evaluation (per intent, confusion matrix, changes
  against the active version), activation and rollback through Rasa's HTTP API.

Every change is written with the staff member's username (var/trainer/changes.jsonl)
and recorded in the console's audit log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.nlu.pii import mask_pii
from bot.trainer import evaluate as ev
from bot.trainer.inbox import InboxGroup, assign, decide, load_inbox
from bot.trainer.jobs import (
    JobAlreadyRunning,
    JobError,
    JobNotFound,
    LineSplitter,
    TrainingJobs,
)
from bot.trainer.nludata import (
    FAQ_TOPIC,
    Change,
    Example,
    ProjectPaths,
    Span,
    TrainerError,
    annotate,
    create_faq,
    create_intent,
    extractor_entities,
    list_intents,
    parse_example,
    read_changes,
    read_domain,
    tokenize,
)
from bot.trainer.registry import (
    ModelRegistry,
    ModelVersion,
    RasaUnavailable,
    RegistryError,
    VersionNotFound,
)

from . import audit
from .auth import requires
from .db import run
from .keys import SESSIONS_KEY, SETTINGS_KEY, USER_KEY, CurrentUser
from .models import Message

logger = logging.getLogger(__name__)

T = TypeVar("T")

BASE = "/console/trainer"
API = "/api/trainer"
ROLE = "trainer"  # admin passes every role check
NEW_INTENT = "__new__"
INBOX_LIMIT, INBOX_MAX = 50, 200
LOG_TAIL = 300  # log lines sent per poll / shown on the job page
MAX_IDS = 5000
VALIDATE_TIMEOUT = 900.0
MAX_TEXT = 300

JOBS_KEY = web.AppKey("trainer_jobs", TrainingJobs)
REGISTRY_KEY = web.AppKey("trainer_registry", ModelRegistry)
TRAINER_EXECUTOR_KEY = web.AppKey("trainer_executor", ThreadPoolExecutor)
BACKGROUND_KEY = web.AppKey("trainer_background", bool)

REASON_LABELS = {
    "low_confidence": "低置信度",
    "fallback": "未识别",
    "out_of_scope": "超出范围",
    "corrected": "客服纠正",
    "handoff": "转人工前",
}
STATUS_LABELS = {
    "queued": "排队中",
    "running": "进行中",
    "succeeded": "已完成",
    "failed": "失败",
    "cancelled": "已取消",
}
KIND_LABELS = {"train": "训练", "cross-validate": "交叉验证"}
STAGE_LABELS = {
    "train": "训练模型",
    "evaluate": "评估",
    "compare": "对比",
    "cross-validate": "交叉验证",
}
VERDICT_LABELS = {
    "better": "更好",
    "worse": "更差",
    "mixed": "有升有降",
    "unchanged": "无变化",
}
FINDING_LABELS = {
    "duplicate-across-intents": "跨意图重复例句",
    "duplicate-in-intent": "意图内重复例句",
    "near-duplicate": "跨意图近似例句",
    "too-few-examples": "例句过少",
    "few-heldout-examples": "测试集例句偏少",
    "test-set-overlap": "与测试集重叠",
    "rule-entity-annotated": "标注了规则抽取的实体",
    "entity-not-in-domain": "实体未在 domain 中声明",
    "entity-never-annotated": "实体从未被标注",
    "entity-misaligned": "实体边界未对齐分词",
    "intent-not-in-domain": "意图未在 domain 中声明",
    "response-unused": "回复未被使用",
}
HISTORY_LABELS = {
    "activate": "激活",
    "rollback": "回滚",
    "import": "导入",
    "detected": "检测到运行中",
}

PII_REFUSED = (
    "例句中含有个人信息（银行卡号、手机号、身份证号或验证码等），不能写入训练数据。"
    "请在文本框中改写（例如换成不含真实号码的说法）后再保存。"
)
MASK_REFUSED = "例句中含有遮蔽符号（**），请改写为自然的说法后再保存。"


# --- app state --------------------------------------------------------------------------


def project_paths(app: web.Application) -> ProjectPaths:
    """The project whose training data the console edits (``settings.project_root``)."""
    return ProjectPaths(Path(app[SETTINGS_KEY].project_root))


async def trainer_ctx(app: web.Application) -> AsyncIterator[None]:
    """The model registry, the training jobs and a worker pool for file work."""
    settings = app[SETTINGS_KEY]
    registry = ModelRegistry.from_settings(settings)
    app[REGISTRY_KEY] = registry
    app[JOBS_KEY] = TrainingJobs(
        Path(settings.project_root), registry, Path(settings.data_dir) / "trainer" / "jobs"
    )
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="console-trainer")
    app[TRAINER_EXECUTOR_KEY] = executor
    yield
    await app[JOBS_KEY].close()
    executor.shutdown(wait=True)


async def _in_thread(request: web.Request, work: Callable[[], T]) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app[TRAINER_EXECUTOR_KEY], work)


async def _db(request: web.Request, work: Callable[[Session], T]) -> T:
    """``work(session)`` in one transaction on the trainer's worker pool."""
    return await run(request.app[SESSIONS_KEY], request.app[TRAINER_EXECUTOR_KEY], work)


def _user(request: web.Request) -> CurrentUser:
    user = request[USER_KEY]
    assert user is not None  # requires() let the request in
    return user


def _audit(
    request: web.Request,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> Callable[[Session], None]:
    user, ip = _user(request), audit.request_ip(request)

    def work(session: Session) -> None:
        audit.record(
            session, actor=user.username, action=action, target=target, detail=detail, ip=ip
        )

    return work


def _render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    base = {
        "reason_labels": REASON_LABELS,
        "status_labels": STATUS_LABELS,
        "kind_labels": KIND_LABELS,
        "stage_labels": STAGE_LABELS,
        "verdict_labels": VERDICT_LABELS,
        "finding_labels": FINDING_LABELS,
        "history_labels": HISTORY_LABELS,
    }
    return aiohttp_jinja2.render_template(
        f"console/{template}", request, {**base, **context}, status=status
    )


# --- form input -------------------------------------------------------------------------


def _field(form: Any, name: str, limit: int = 2000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def parse_ids(raw: Any) -> list[int]:
    """Message ids from ``"12,15,19"`` (empty when malformed)."""
    if not isinstance(raw, str) or not raw.strip():
        return []
    ids: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part.isdigit():
            return []
        ids.append(int(part))
    return ids[:MAX_IDS]


def parse_spans(raw: Any, text: str) -> list[Span]:
    """Entity spans from the annotator's JSON ``[{"start", "end", "entity"}]``."""
    if not isinstance(raw, str) or not raw.strip():
        return []
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise TrainerError("实体标注数据无效，请刷新页面后重新标注") from exc
    if not isinstance(items, list):
        raise TrainerError("实体标注数据无效，请刷新页面后重新标注")
    spans = []
    for item in items[:50]:
        if not isinstance(item, dict):
            raise TrainerError("实体标注数据无效，请刷新页面后重新标注")
        start, end, entity = item.get("start"), item.get("end"), item.get("entity")
        if (
            not isinstance(start, int)
            or not isinstance(end, int)
            or not isinstance(entity, str)
            or not entity
            or not 0 <= start < end <= len(text)
        ):
            raise TrainerError("实体标注与例句不一致（例句被修改过？），请重新标注")
        spans.append(Span(start, end, entity))
    return spans


def pii_problem(text: str) -> str | None:
    """Why ``text`` may not become a training example (personal data, masks), or None."""
    if mask_pii(text) != text:
        return PII_REFUSED
    if "**" in text:
        return MASK_REFUSED
    return None


def _examples_from_lines(project: ProjectPaths, raw: str) -> tuple[list[Example], list[str]]:
    """Examples (inline markup allowed) one per line, spans snapped; and the warnings."""
    examples: list[Example] = []
    warnings: list[str] = []
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        parsed = parse_example(line)
        problem = pii_problem(parsed.text)
        if problem:
            raise TrainerError(f"「{mask_pii(parsed.text)}」：{problem}")
        annotation = annotate(parsed.text, parsed.entities, project=project)
        examples.append(annotation.example)
        warnings.extend(annotation.warnings)
    if not examples:
        raise TrainerError("请至少填写一条例句（每行一条）")
    return examples, warnings


def _change_view(change: Change) -> dict[str, Any]:
    return {
        "intent": change.intent,
        "files": list(change.files),
        "added": list(change.added),
        "skipped": list(change.skipped),
        "diff": change.diff,
        "written": change.written,
    }


# --- choices (intents, topics, entities) ------------------------------------------------


def _choices(project: ProjectPaths) -> dict[str, Any]:
    intents = list_intents(project)
    by_topic: dict[str, list[str]] = {}
    for info in intents.values():
        by_topic.setdefault(info.topic, []).append(info.intent)
    domain = read_domain(project)
    return {
        "intents": list(intents),
        "intents_by_topic": dict(sorted(by_topic.items())),
        "topics": [t for t in project.topics() if t != FAQ_TOPIC],
        "entities": sorted(set(domain.entities) - extractor_entities(project)),
        "rule_entities": sorted(extractor_entities(project)),
    }


# --- inbox ------------------------------------------------------------------------------


def text_pieces(text: str, tokens: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``text`` as consecutive pieces (jieba tokens and the gaps between them)."""
    pieces: list[dict[str, Any]] = []
    position = 0
    for token in sorted(tokens, key=lambda t: (t["start"], t["end"])):
        start, end = int(token["start"]), int(token["end"])
        if start < position or end > len(text) or start >= end:
            continue
        if start > position:
            pieces.append(
                {"text": text[position:start], "start": position, "end": start, "token": False}
            )
        pieces.append({"text": text[start:end], "start": start, "end": end, "token": True})
        position = end
    if position < len(text):
        pieces.append(
            {"text": text[position:], "start": position, "end": len(text), "token": False}
        )
    return pieces


def group_view(group: InboxGroup) -> dict[str, Any]:
    """What the inbox page shows of a group: masked texts only, never the raw one."""
    data = group.as_dict(masked=True)
    text = data["text"]
    return {
        "ids": ",".join(str(i) for i in group.message_ids),
        "first_id": group.message_ids[0],
        "text": text,
        "has_pii": group.masked_text != group.text,
        "count": group.count,
        "conversation_id": group.conversation_id,
        "first_at": group.first_at,
        "last_at": group.last_at,
        "intent": group.intent,
        "confidence": group.confidence,
        "alternatives": data["alternatives"],
        "reasons": group.reasons,
        "corrected_intent": group.corrected_intent,
        "retrieval_intent": group.retrieval_intent,
        "known_intent": group.known_intent,
        "variants": [v for v in data["variants"] if v != text],
        "tokens": data["tokens"],
        "pieces": text_pieces(text, data["tokens"]),
    }


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "")
    return max(1, min(INBOX_MAX, int(raw))) if raw.isdigit() else INBOX_LIMIT


async def _render_inbox(
    request: web.Request, result: dict[str, Any] | None = None, status: int = 200
) -> web.Response:
    settings = request.app[SETTINGS_KEY]
    project = project_paths(request.app)
    limit = _limit(request)

    def work(session: Session) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        groups = load_inbox(session, settings, limit=limit, project=project)
        return [group_view(g) for g in groups], _choices(project)

    groups, choices = await _db(request, work)
    return _render(
        request,
        "trainer_inbox.html",
        {
            "groups": groups,
            "choices": choices,
            "result": result,
            "limit": limit,
            "threshold": settings.low_confidence_threshold,
            "new_intent": NEW_INTENT,
        },
        status=status,
    )


@requires(ROLE)
async def index(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer: the inbox."""
    raise web.HTTPFound(f"{BASE}/inbox")


@requires(ROLE)
async def inbox_page(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer/inbox."""
    return await _render_inbox(request)


@requires(ROLE)
async def inbox_api(request: web.Request) -> web.StreamResponse:
    """GET /api/trainer/inbox: the groups as JSON (masked)."""
    settings = request.app[SETTINGS_KEY]
    project = project_paths(request.app)
    limit = _limit(request)

    def work(session: Session) -> list[dict[str, Any]]:
        return [group_view(g) for g in load_inbox(session, settings, limit=limit, project=project)]

    groups = await _db(request, work)
    for group in groups:
        group.pop("pieces")
    return web.json_response({"groups": groups})


def _save_group(
    project: ProjectPaths,
    user: CurrentUser,
    ip: str | None,
    ids: list[int],
    text: str,
    intent: str,
    new_intent: str | None,
    topic: str | None,
    spans: list[Span],
) -> Callable[[Session], tuple[Change, tuple[str, ...]]]:
    def work(session: Session) -> tuple[Change, tuple[str, ...]]:
        annotation = annotate(text, spans, project=project)
        if new_intent is not None:
            # Decide first: it checks the messages; a refused write rolls it back.
            decide(session, ids, "assigned", new_intent, user.username)
            change = create_intent(project, new_intent, topic, [annotation.example], user.username)
        else:
            change = assign(session, project, ids, intent, [annotation.example], user.username)
        audit.record(
            session,
            actor=user.username,
            action="trainer_assign",
            target=change.intent,
            detail={
                "messages": len(ids),
                "example": annotation.example.markup(),
                "files": list(change.files),
                "written": change.written,
                "new_intent": new_intent is not None,
            },
            ip=ip,
        )
        return change, annotation.warnings

    return work


@requires(ROLE)
async def inbox_decide(request: web.Request) -> web.StreamResponse:
    """POST /console/trainer/inbox/decide: save (annotate), ignore or delete one group."""
    form = await request.post()
    user = _user(request)
    ids = parse_ids(form.get("ids"))
    op = _field(form, "op")
    result: dict[str, Any] = {"ids": _field(form, "ids", 100_000), "ok": False}
    if not ids:
        return await _render_inbox(request, {**result, "message": "没有选中的消息"}, 400)
    if op in ("ignore", "delete"):
        action = "ignored" if op == "ignore" else "deleted"
        ip = audit.request_ip(request)

        def work(session: Session) -> int:
            count = decide(session, ids, action, None, user.username)
            audit.record(
                session,
                actor=user.username,
                action=f"trainer_{op}",
                detail={"messages": count},
                ip=ip,
            )
            return count

        try:
            count = await _db(request, work)
        except TrainerError as exc:
            return await _render_inbox(request, {**result, "message": f"操作失败：{exc}"}, 400)
        label = "忽略" if op == "ignore" else "删除"
        return await _render_inbox(
            request,
            {
                **result,
                "ok": True,
                "message": f"已{label} {count} 条消息，它们不再出现在待标注列表中。",
            },
        )
    if op != "save":
        return await _render_inbox(request, {**result, "message": "未知操作"}, 400)

    text = _field(form, "text", MAX_TEXT + 1)
    problem = pii_problem(text) if text else "例句不能为空"
    if problem:
        return await _render_inbox(request, {**result, "message": problem}, 400)
    intent = _field(form, "intent", 200)
    new_intent: str | None = None
    topic: str | None = None
    if intent == NEW_INTENT:
        new_intent = _field(form, "new_intent", 100)
        topic = _field(form, "topic", 100) or None
        if not new_intent:
            return await _render_inbox(request, {**result, "message": "请填写新意图的名称"}, 400)
    elif not intent:
        return await _render_inbox(request, {**result, "message": "请选择意图"}, 400)
    project = project_paths(request.app)
    try:
        spans = parse_spans(form.get("spans"), text)
        change, warnings = await _db(
            request,
            _save_group(
                project,
                user,
                audit.request_ip(request),
                ids,
                text,
                intent,
                new_intent,
                topic,
                spans,
            ),
        )
    except TrainerError as exc:
        return await _render_inbox(request, {**result, "message": f"未写入：{exc}"}, 400)
    return await _render_inbox(
        request,
        {
            **result,
            "ok": True,
            "message": _saved_message(change, len(ids)),
            "change": _change_view(change),
            "warnings": list(warnings),
        },
    )


def _saved_message(change: Change, messages: int) -> str:
    files = "、".join(change.files)
    if change.written:
        return f"已写入 {files}（意图 {change.intent}），{messages} 条消息已归类。"
    return f"该例句已是意图 {change.intent} 的训练例句，未重复写入；{messages} 条消息已归类。"


@requires(ROLE)
async def inbox_bulk(request: web.Request) -> web.StreamResponse:
    """POST /console/trainer/inbox/bulk: assign the checked groups to one intent."""
    form = await request.post()
    user = _user(request)
    intent = _field(form, "intent", 200)
    groups = [parse_ids(v) for v in form.getall("group", [])]
    groups = [g for g in groups if g]
    if not groups:
        return await _render_inbox(request, {"ok": False, "message": "请先勾选要归类的消息组"}, 400)
    if not intent or intent == NEW_INTENT:
        return await _render_inbox(request, {"ok": False, "message": "批量归类请选择已有意图"}, 400)
    project = project_paths(request.app)
    ip = audit.request_ip(request)

    def work(session: Session) -> tuple[Change | None, int, list[str]]:
        newest = [g[0] for g in groups]
        texts = {
            row.id: (row.text or "").strip()
            for row in session.execute(
                select(Message.id, Message.text).where(
                    Message.id.in_(newest), Message.kind == "user"
                )
            )
        }
        examples: list[Example] = []
        ids: list[int] = []
        skipped: list[str] = []
        for group in groups:
            text = texts.get(group[0], "")
            if not text or pii_problem(text):
                skipped.append(mask_pii(text) or f"#{group[0]}")
                continue
            examples.append(Example(text))
            ids.extend(group)
        if not examples:
            return None, 0, skipped
        change = assign(session, project, ids, intent, examples, user.username)
        audit.record(
            session,
            actor=user.username,
            action="trainer_bulk_assign",
            target=intent,
            detail={
                "groups": len(examples),
                "messages": len(ids),
                "added": list(change.added),
                "files": list(change.files),
                "skipped_pii": len(skipped),
            },
            ip=ip,
        )
        return change, len(ids), skipped

    try:
        change, count, skipped = await _db(request, work)
    except TrainerError as exc:
        return await _render_inbox(request, {"ok": False, "message": f"未写入：{exc}"}, 400)
    warnings = [f"「{t}」含个人信息或遮蔽符号，未写入，请单独改写后保存" for t in skipped]
    if change is None:
        return await _render_inbox(
            request,
            {"ok": False, "message": "所选消息都含个人信息，未写入", "warnings": warnings},
            400,
        )
    return await _render_inbox(
        request,
        {
            "ok": True,
            "message": f"已将 {len(change.added)} 条新例句写入 {'、'.join(change.files) or '（无变化）'}"
            f"（意图 {intent}），{count} 条消息已归类。",
            "change": _change_view(change),
            "warnings": warnings,
        },
    )


@requires(ROLE)
async def tokenize_api(request: web.Request) -> web.StreamResponse:
    """POST /api/trainer/tokenize {"text"}: jieba tokens (for the annotator after an edit)."""
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": "请求格式无效"}, status=400)
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return web.json_response({"error": f"文本为空或超过 {MAX_TEXT} 字"}, status=400)
    project = project_paths(request.app)
    tokens = await _in_thread(request, lambda: tokenize(text, project))
    return web.json_response(
        {
            "tokens": [{"text": t.text, "start": t.start, "end": t.end} for t in tokens],
            "problem": pii_problem(text),
        }
    )


# --- new intent / FAQ -------------------------------------------------------------------


async def _choices_for(request: web.Request) -> dict[str, Any]:
    project = project_paths(request.app)
    return await _in_thread(request, lambda: _choices(project))


@requires(ROLE)
async def intent_form(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer/intents/new."""
    return _render(
        request, "trainer_intent.html", {"choices": await _choices_for(request), "form": {}}
    )


@requires(ROLE)
async def intent_submit(request: web.Request) -> web.StreamResponse:
    """POST /console/trainer/intents/new: create_intent, show the diff."""
    form = await request.post()
    user = _user(request)
    values = {
        "name": _field(form, "name", 100),
        "topic": _field(form, "topic", 100),
        "examples": _field(form, "examples", 20_000),
    }
    project = project_paths(request.app)
    ip = audit.request_ip(request)

    def work(session: Session) -> tuple[Change, list[str]]:
        examples, warnings = _examples_from_lines(project, values["examples"])
        change = create_intent(
            project, values["name"], values["topic"] or None, examples, user.username
        )
        audit.record(
            session,
            actor=user.username,
            action="intent_created",
            target=change.intent,
            detail={"files": list(change.files), "examples": len(change.added)},
            ip=ip,
        )
        return change, warnings

    choices = await _choices_for(request)
    try:
        change, warnings = await _db(request, work)
    except TrainerError as exc:
        return _render(
            request,
            "trainer_intent.html",
            {"choices": choices, "form": _masked_form(values), "error": f"未写入：{exc}"},
            status=400,
        )
    return _render(
        request,
        "trainer_intent.html",
        {
            "choices": await _choices_for(request),
            "form": {},
            "change": _change_view(change),
            "warnings": warnings,
        },
    )


def _masked_form(values: dict[str, str]) -> dict[str, str]:
    """Form values shown again after an error, personal data masked."""
    return {k: mask_pii(v) for k, v in values.items()}


@requires(ROLE)
async def faq_form(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer/faq/new."""
    return _render(request, "trainer_faq.html", {"form": {}})


@requires(ROLE)
async def faq_submit(request: web.Request) -> web.StreamResponse:
    """POST /console/trainer/faq/new: create_faq (examples + answer), show the diff."""
    form = await request.post()
    user = _user(request)
    values = {
        "name": _field(form, "name", 100),
        "examples": _field(form, "examples", 20_000),
        "answer": _field(form, "answer", 5_000),
    }
    project = project_paths(request.app)
    ip = audit.request_ip(request)

    def work(session: Session) -> tuple[Change, list[str]]:
        examples, warnings = _examples_from_lines(project, values["examples"])
        change = create_faq(project, values["name"], examples, values["answer"], user.username)
        audit.record(
            session,
            actor=user.username,
            action="faq_created",
            target=change.intent,
            detail={"files": list(change.files), "examples": len(change.added)},
            ip=ip,
        )
        return change, warnings

    try:
        change, warnings = await _db(request, work)
    except TrainerError as exc:
        return _render(
            request,
            "trainer_faq.html",
            {"form": _masked_form(values), "error": f"未写入：{exc}"},
            status=400,
        )
    return _render(
        request,
        "trainer_faq.html",
        {"form": {}, "change": _change_view(change), "warnings": warnings},
    )


@requires(ROLE)
async def changes_page(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer/changes: who changed the training data (changes.jsonl)."""
    project = project_paths(request.app)
    changes = await _in_thread(request, lambda: read_changes(project, limit=200))
    return _render(request, "trainer_changes.html", {"changes": changes})


# --- validation -------------------------------------------------------------------------


async def rasa_validate(project: ProjectPaths) -> dict[str, Any]:
    """``python -m bot.validate --no-checks`` on the project (a subprocess: Rasa's
    validator logs to the process and loads much of Rasa)."""
    env = dict(os.environ)
    code_root = str(project.code_root)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (code_root, env.get("PYTHONPATH", "")) if p)
    env["RASA_TELEMETRY_ENABLED"] = "false"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.validate",
        "--domain",
        str(project.domain),
        "--data",
        str(project.data),
        "--config",
        str(project.config),
        "--no-checks",
        cwd=str(project.root),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), VALIDATE_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return {"ok": False, "problems": ["Rasa 校验超时"], "log": ""}
    splitter = LineSplitter()  # drops colours and progress-bar redraws
    lines = [line for line, transient in splitter.feed(output) + splitter.flush() if not transient]
    problems = [
        line.split("validation: ", 1)[1] for line in lines if line.startswith("validation: ")
    ]
    if proc.returncode != 0 and not problems:
        problems = [f"校验进程退出码 {proc.returncode}"]
    return {"ok": proc.returncode == 0, "problems": problems, "log": "\n".join(lines[-80:])}


@requires(ROLE)
async def validate_page(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer/validate: the form (running takes a while)."""
    return _render(request, "trainer_validate.html", {"ran": False})


@requires(ROLE)
async def validate_run(request: web.Request) -> web.StreamResponse:
    """POST /console/trainer/validate: trainer checks (+ Rasa's validator unless skipped)."""
    from bot.trainer.checks import ERROR, run_checks

    form = await request.post()
    project = project_paths(request.app)
    skip_rasa = form.get("skip_rasa") == "1"
    checks = _in_thread(request, lambda: run_checks(project))
    if skip_rasa:
        findings, rasa = await checks, None
    else:
        findings, rasa = await asyncio.gather(checks, rasa_validate(project))
    errors = [f for f in findings if f.severity == ERROR]
    warnings = [f for f in findings if f.severity != ERROR]
    return _render(
        request,
        "trainer_validate.html",
        {
            "ran": True,
            "rasa": rasa,
            "errors": errors,
            "warnings": warnings,
            "skip_rasa": skip_rasa,
        },
    )


# --- training jobs ----------------------------------------------------------------------


def _jobs(request: web.Request) -> TrainingJobs:
    return request.app[JOBS_KEY]


def _registry(request: web.Request) -> ModelRegistry:
    return request.app[REGISTRY_KEY]


async def _render_train(
    request: web.Request, *, error: str | None = None, status: int = 200
) -> web.Response:
    jobs = _jobs(request)
    registry = _registry(request)

    def load() -> tuple[list[Any], ModelVersion | None]:
        return jobs.recent(20), registry.active()

    recent, active = await _in_thread(request, load)
    running = next((j for j in recent if not j.finished), None)
    return _render(
        request,
        "trainer_train.html",
        {"recent": recent, "running": running, "active": active, "error": error},
        status=status,
    )


@requires(ROLE)
async def train_page(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer/train."""
    return await _render_train(request)


def _busy_message(exc: JobAlreadyRunning) -> str:
    return f"已有训练在进行，请等待其完成后再开始（{exc}）。"


@requires(ROLE)
async def train_start(request: web.Request) -> web.StreamResponse:
    """POST /console/trainer/train: start a training (409 while one runs)."""
    form = await request.post()
    user = _user(request)
    notes = _field(form, "notes", 200)
    evaluate = form.get("skip_eval") != "1"
    try:
        job = await _jobs(request).start(user.username, evaluate=evaluate, notes=notes)
    except JobAlreadyRunning as exc:
        return await _render_train(request, error=_busy_message(exc), status=409)
    except JobError as exc:
        return await _render_train(request, error=f"无法开始训练：{exc}", status=400)
    await _db(
        request, _audit(request, "training_started", job.id, {"notes": notes, "evaluate": evaluate})
    )
    raise web.HTTPSeeOther(f"{BASE}/jobs/{job.id}")


@requires(ROLE)
async def cross_validate_start(request: web.Request) -> web.StreamResponse:
    """POST /console/trainer/cross-validate: k-fold cross-validation as a job."""
    form = await request.post()
    user = _user(request)
    raw = _field(form, "folds", 3)
    folds = int(raw) if raw.isdigit() else 3
    if not 2 <= folds <= 10:
        return await _render_train(request, error="折数应在 2 到 10 之间", status=400)
    try:
        job = await _jobs(request).start_cross_validation(user.username, folds=folds)
    except JobAlreadyRunning as exc:
        return await _render_train(request, error=_busy_message(exc), status=409)
    except JobError as exc:
        return await _render_train(request, error=f"无法开始交叉验证：{exc}", status=400)
    await _db(request, _audit(request, "cross_validation_started", job.id, {"folds": folds}))
    raise web.HTTPSeeOther(f"{BASE}/jobs/{job.id}")


def _job_or_404(request: web.Request) -> Any:
    try:
        return _jobs(request).get(request.match_info["job_id"])
    except JobNotFound as exc:
        raise web.HTTPNotFound(text="没有这个训练任务") from exc


def log_lines(path: str, after: int = 0, limit: int = LOG_TAIL) -> list[tuple[int, str]]:
    """Lines of a job's log numbered from 1 (the job's sequence numbers), after ``after``."""
    log = Path(path)
    if not path or not log.is_file():
        return []
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if n > after]
    return numbered[-limit:]


def _job_json(job: Any, after: int) -> dict[str, Any]:
    data = job.to_json()
    data.pop("log_path", None)
    lines = log_lines(job.log_path, after)
    data["lines"] = [[n, line] for n, line in lines]
    data["last_line"] = lines[-1][0] if lines else after
    data["finished"] = job.finished
    data["status_label"] = STATUS_LABELS.get(job.status.value, job.status.value)
    data["stage_label"] = STAGE_LABELS.get(job.stage, job.stage)
    return data


@requires(ROLE)
async def job_page(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer/jobs/{id}: progress, log, and results once finished."""
    job = _job_or_404(request)
    lines = await _in_thread(request, lambda: log_lines(job.log_path))
    cross_validation = None
    if job.kind == "cross-validate" and job.status.value == "succeeded":
        path = _jobs(request).jobs_dir / job.id / ev.CROSS_VALIDATION_FILE
        if path.is_file():
            cross_validation = await _in_thread(request, lambda: ev.CrossValidation.load(path))
    running = _jobs(request).current()
    return _render(
        request,
        "trainer_job.html",
        {
            "job": job,
            "lines": lines,
            "last_line": lines[-1][0] if lines else 0,
            "cancellable": running is not None and running.id == job.id,
            "cv": cross_validation,
            "cv_image": f"{BASE}/jobs/{job.id}/confusion.png" if cross_validation else None,
        },
    )


@requires(ROLE)
async def job_api(request: web.Request) -> web.StreamResponse:
    """GET /api/trainer/jobs/{id}?after=N: status, progress and new log lines."""
    try:
        job = _jobs(request).get(request.match_info["job_id"])
    except JobNotFound:
        return web.json_response({"error": "没有这个训练任务"}, status=404)
    raw = request.query.get("after", "0")
    after = int(raw) if raw.isdigit() else 0
    data = await _in_thread(request, lambda: _job_json(job, after))
    return web.json_response(data)


@requires(ROLE)
async def job_cancel(request: web.Request) -> web.StreamResponse:
    """POST /console/trainer/jobs/{id}/cancel: stop the running job of this console."""
    job = _job_or_404(request)
    running = _jobs(request).current()
    if running is None or running.id != job.id:
        return await _render_train(
            request,
            error="该任务不在本控制台进程中运行（已结束或由命令行启动），无法在此取消。",
            status=409,
        )
    job = await _jobs(request).cancel(job.id)
    await _db(request, _audit(request, "training_cancelled", job.id, {"kind": job.kind}))
    raise web.HTTPSeeOther(f"{BASE}/jobs/{job.id}")


@requires(ROLE)
async def job_confusion(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer/jobs/{id}/confusion.png (cross-validation)."""
    job = _job_or_404(request)
    path = _jobs(request).jobs_dir / job.id / ev.CONFUSION_FILE
    if not path.is_file():
        raise web.HTTPNotFound(text="没有混淆矩阵")
    return web.FileResponse(path, headers={"Content-Type": "image/png"})


# --- model versions ---------------------------------------------------------------------


def _version_rows(registry: ModelRegistry) -> dict[str, Any]:
    versions = registry.versions()
    active = registry.active()
    history = list(reversed(registry.history()))[:10]
    return {
        "versions": versions,
        "active": active.version if active else None,
        "history": history,
    }


async def _render_models(
    request: web.Request,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> web.Response:
    registry = _registry(request)
    context = await _in_thread(request, lambda: _version_rows(registry))
    return _render(
        request,
        "trainer_models.html",
        {**context, "error": error, "notice": notice, "rasa_url": registry.rasa_url},
        status=status,
    )


@requires(ROLE)
async def models_page(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer/models."""
    return await _render_models(request)


def _registry_error(exc: RegistryError) -> tuple[str, int]:
    if isinstance(exc, VersionNotFound):
        return f"没有这个模型版本：{exc}", 404
    if isinstance(exc, RasaUnavailable):
        return f"无法连接 Rasa 服务，模型未切换：{exc}", 502
    return f"模型切换失败，线上模型未改变：{exc}", 502


@requires(ROLE)
async def model_activate(request: web.Request) -> web.StreamResponse:
    """POST /console/trainer/models/{version}/activate: hot-swap Rasa to the version."""
    version = request.match_info["version"]
    user = _user(request)
    registry = _registry(request)
    before = await _in_thread(request, registry.active)
    previous = before.version if before else None
    try:
        entry = await registry.activate(version, user.username)
    except RegistryError as exc:
        message, status = _registry_error(exc)
        if status != 404:
            await _db(
                request,
                _audit(request, "model_activate", version, {"ok": False, "error": str(exc)[:500]}),
            )
        return await _render_models(request, error=message, status=status)
    await _db(
        request,
        _audit(request, "model_activate", entry.version, {"ok": True, "previous": previous}),
    )
    return await _render_models(
        request, notice=f"已激活模型版本 {entry.version}（原版本 {previous or '未知'}）。"
    )


@requires(ROLE)
async def model_rollback(request: web.Request) -> web.StreamResponse:
    """POST /console/trainer/models/rollback: back to the previously active version."""
    form = await request.post()
    to = _field(form, "to", 100) or None
    user = _user(request)
    registry = _registry(request)
    before = await _in_thread(request, registry.active)
    previous = before.version if before else None
    try:
        entry = await registry.rollback(user.username, to=to)
    except RegistryError as exc:
        message, status = _registry_error(exc)
        if isinstance(exc, VersionNotFound):
            message, status = "没有可回滚的更早版本。", 409
        else:
            await _db(
                request,
                _audit(request, "model_rollback", to, {"ok": False, "error": str(exc)[:500]}),
            )
        return await _render_models(request, error=message, status=status)
    await _db(
        request,
        _audit(request, "model_rollback", entry.version, {"ok": True, "previous": previous}),
    )
    return await _render_models(
        request, notice=f"已回滚到模型版本 {entry.version}（原版本 {previous or '未知'}）。"
    )


@requires(ROLE)
async def model_sync(request: web.Request) -> web.StreamResponse:
    """POST /console/trainer/models/sync: mark the version Rasa runs now as active."""
    user = _user(request)
    registry = _registry(request)
    before = await _in_thread(request, registry.active)
    try:
        running = await registry.sync_with_server(user.username)
    except RegistryError as exc:
        message, status = _registry_error(exc)
        return await _render_models(
            request, error=f"无法读取 Rasa 当前模型：{message}", status=status
        )
    if running is None:
        return await _render_models(
            request,
            error="Rasa 正在运行的模型不在版本列表中（可用 python -m bot.trainer import-model 登记）。",
            status=409,
        )
    if before is None or before.version != running.version:
        await _db(
            request,
            _audit(
                request,
                "model_sync",
                running.version,
                {"previous": before.version if before else None},
            ),
        )
    return await _render_models(request, notice=f"Rasa 当前运行的模型版本：{running.version}。")


def _evaluation(registry: ModelRegistry, version: str) -> ev.Evaluation | None:
    path = registry.root / version / ev.EVALUATION_FILE
    return ev.Evaluation.load(path) if path.is_file() else None


def version_report(registry: ModelRegistry, version: str) -> dict[str, Any]:
    """A version, its evaluation and its comparison with the active version (or, when
    that is not possible, with the baseline it was compared to after training)."""
    entry = registry.get(version)
    evaluation = _evaluation(registry, version)
    active = registry.active()
    comparison: dict[str, Any] | None = None
    baseline: str | None = None
    note: str | None = None
    if evaluation is not None and active is not None and active.version != version:
        old = _evaluation(registry, active.version)
        if old is not None and old.test_file_sha == evaluation.test_file_sha:
            comparison = ev.compare(old, evaluation).to_json()
            baseline = active.version
        else:
            note = (
                f"当前上线版本 {active.version} 没有同一测试集上的评估结果，"
                f"可运行 python -m bot.trainer evaluate {active.version} 后再对比。"
            )
    if comparison is None:
        saved = registry.root / version / ev.COMPARISON_FILE
        if saved.is_file():
            comparison = json.loads(saved.read_text(encoding="utf-8"))
            baseline = entry.compared_to
    intents = []
    errors: list[ev.ExamplePrediction] = []
    if evaluation is not None:
        intents = sorted(
            ({"intent": name, **vars(score)} for name, score in evaluation.intents.items()),
            key=lambda row: (row["support"] == 0, row["f1"], row["intent"]),
        )
        errors = evaluation.errors()[:100]
    changed = [d for d in (comparison or {}).get("intents", []) if abs(d["delta"]) > 1e-9]
    return {
        "entry": entry,
        "is_active": active is not None and active.version == version,
        "evaluation": evaluation,
        "intents": intents,
        "errors": errors,
        "comparison": comparison,
        "changed_intents": changed,
        "baseline": baseline,
        "note": note,
        "has_image": (registry.root / version / ev.CONFUSION_FILE).is_file(),
    }


@requires(ROLE)
async def model_page(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer/models/{version}: evaluation and comparison."""
    registry = _registry(request)
    version = request.match_info["version"]
    try:
        report = await _in_thread(request, lambda: version_report(registry, version))
    except VersionNotFound as exc:
        raise web.HTTPNotFound(text="没有这个模型版本") from exc
    return _render(request, "trainer_model.html", report)


@requires(ROLE)
async def model_confusion(request: web.Request) -> web.StreamResponse:
    """GET /console/trainer/models/{version}/confusion.png."""
    registry = _registry(request)
    version = request.match_info["version"]
    try:
        registry.get(version)
    except VersionNotFound as exc:
        raise web.HTTPNotFound(text="没有这个模型版本") from exc
    path = registry.root / version / ev.CONFUSION_FILE
    if not path.is_file():
        raise web.HTTPNotFound(text="没有混淆矩阵")
    return web.FileResponse(path, headers={"Content-Type": "image/png"})


# --- registration -----------------------------------------------------------------------

JOB_ID = r"{job_id:[0-9A-Za-z][0-9A-Za-z_-]{0,80}}"
VERSION = r"{version:[0-9A-Za-z][0-9A-Za-z_.-]{0,80}}"


def setup(app: web.Application) -> None:
    """Register this module's routes (and its background state, see setup_background)."""
    setup_background(app)
    router = app.router
    router.add_get(BASE, index, name="trainer")
    router.add_get(f"{BASE}/inbox", inbox_page, name="trainer_inbox")
    router.add_post(f"{BASE}/inbox/decide", inbox_decide, name="trainer_inbox_decide")
    router.add_post(f"{BASE}/inbox/bulk", inbox_bulk, name="trainer_inbox_bulk")
    router.add_get(f"{BASE}/intents/new", intent_form, name="trainer_intent_new")
    router.add_post(f"{BASE}/intents/new", intent_submit, name="trainer_intent_create")
    router.add_get(f"{BASE}/faq/new", faq_form, name="trainer_faq_new")
    router.add_post(f"{BASE}/faq/new", faq_submit, name="trainer_faq_create")
    router.add_get(f"{BASE}/changes", changes_page, name="trainer_changes")
    router.add_get(f"{BASE}/validate", validate_page, name="trainer_validate")
    router.add_post(f"{BASE}/validate", validate_run, name="trainer_validate_run")
    router.add_get(f"{BASE}/train", train_page, name="trainer_train")
    router.add_post(f"{BASE}/train", train_start, name="trainer_train_start")
    router.add_post(f"{BASE}/cross-validate", cross_validate_start, name="trainer_cv_start")
    router.add_get(f"{BASE}/jobs/{JOB_ID}", job_page, name="trainer_job")
    router.add_post(f"{BASE}/jobs/{JOB_ID}/cancel", job_cancel, name="trainer_job_cancel")
    router.add_get(f"{BASE}/jobs/{JOB_ID}/confusion.png", job_confusion, name="trainer_job_png")
    router.add_get(f"{BASE}/models", models_page, name="trainer_models")
    router.add_post(f"{BASE}/models/rollback", model_rollback, name="trainer_rollback")
    router.add_post(f"{BASE}/models/sync", model_sync, name="trainer_sync")
    router.add_get(f"{BASE}/models/{VERSION}", model_page, name="trainer_model")
    router.add_post(f"{BASE}/models/{VERSION}/activate", model_activate, name="trainer_activate")
    router.add_get(
        f"{BASE}/models/{VERSION}/confusion.png", model_confusion, name="trainer_model_png"
    )
    router.add_get(f"{API}/inbox", inbox_api, name="trainer_api_inbox")
    router.add_post(f"{API}/tokenize", tokenize_api, name="trainer_api_tokenize")
    router.add_get(f"{API}/jobs/{JOB_ID}", job_api, name="trainer_api_job")


def setup_background(app: web.Application) -> None:
    """Register the registry, the training jobs and the worker pool (cleanup_ctx; once)."""
    if app.get(BACKGROUND_KEY):
        return
    app[BACKGROUND_KEY] = True
    app.cleanup_ctx.append(trainer_ctx)
