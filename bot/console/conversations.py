"""Staff console: conversation list, transcripts, tags, notes, review marks, reveal, export.

Pages under /console/, the same data as JSON under /api/. Customer text is shown
PII-masked to everyone; an admin may reveal one message at a time (audited) and
exports unmasked (audited); every other export is masked.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.orm import Session

from bot.bank.clock import CST

from . import audit, takeover
from . import queries as q
from .auth import client_ip, error_response, is_api, requires
from .db import read, run
from .keys import EXECUTOR_KEY, SESSIONS_KEY, SETTINGS_KEY, USER_KEY, CurrentUser
from .labels import setup_jinja

T = TypeVar("T")

LIST_PATH = "/console/conversations"
EXPORT_BATCH = 500
CSV_BOM = "\ufeff"
CSV_COLUMNS = [
    "会话ID", "渠道", "客户", "客户编号", "开始时间", "最后消息时间", "最后意图", "意图代码", "置信度",
    "状态", "紧急", "兜底", "投诉", "低置信度", "标签", "消息数", "已复核", "复核人", "首条客户消息",
]
# Revealing an original (admin): the reason is required and kept in the audit entry.
REVEAL_CATEGORIES = audit.REVEAL_CATEGORIES
REVEAL_REASON_MIN, REVEAL_REASON_MAX = 2, 200
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def _db(request: web.Request, work: Callable[[Session], T]) -> T:
    return await run(request.app[SESSIONS_KEY], request.app[EXECUTOR_KEY], work)


async def _read(request: web.Request, work: Callable[[Session], T]) -> T:
    """For pages that only read: they neither wait for nor hold up the event ingest."""
    return await read(request.app[SESSIONS_KEY], request.app[EXECUTOR_KEY], work)


def _user(request: web.Request) -> CurrentUser:
    user = request[USER_KEY]
    assert user is not None  # guaranteed by @requires
    return user


def _now_and_idle(request: web.Request) -> tuple[float, int]:
    return time.time(), request.app[SETTINGS_KEY].conversation_idle_seconds


def _conversation_id(request: web.Request) -> int:
    return int(request.match_info["id"])


def _bad_request(request: web.Request, message: str) -> web.Response:
    return error_response(request, 400, message)


def _not_found(request: web.Request) -> web.Response:
    return error_response(request, 404, "没有找到该会话。")


def _list_url(params: dict[str, str], **extra: str) -> str:
    merged = {**params, **extra}
    return LIST_PATH + ("?" + urlencode(merged) if merged else "")


# --- list ------------------------------------------------------------------------


async def console_root(request: web.Request) -> web.StreamResponse:
    """GET /console/ -> the conversation list."""
    raise web.HTTPFound(LIST_PATH)


def _parse_list_request(request: web.Request) -> tuple[q.ConversationFilter, str | None]:
    flt = q.ConversationFilter.from_params(request.query)
    cursor = request.query.get("cursor") or None
    if cursor is not None:
        q.decode_cursor(cursor)
    return flt, cursor


@requires()
async def list_page(request: web.Request) -> web.StreamResponse:
    """GET /console/conversations: filter form, one page of the list, pager, export links."""
    now, idle = _now_and_idle(request)
    error = None
    try:
        flt, cursor = _parse_list_request(request)
    except q.FilterError as exc:
        flt, cursor, error = q.ConversationFilter(), None, str(exc)

    def work(session: Session) -> tuple[q.Page, dict[str, list[str]]]:
        if error is not None:
            return q.Page([], None), q.filter_options(session)
        page = q.list_conversations(session, flt, cursor=cursor, now=now, idle_seconds=idle)
        return page, q.filter_options(session)

    page, options = await _read(request, work)
    params = flt.to_params()
    context = {
        "page": page,
        "flt": flt,
        "params": params,
        "options": options,
        "error": error,
        "cursor": cursor,
        "next_url": _list_url(params, cursor=page.next_cursor) if page.next_cursor else None,
        "first_url": _list_url(params) if cursor else None,
        "export_query": urlencode(params),
        "statuses": q.STATUS_LABELS,
        "flags": {"any": "任一标记", **q.FILTER_FLAG_LABELS},
        "channel_labels": q.CHANNEL_LABELS,
    }
    return aiohttp_jinja2.render_template(
        "console/conversations.html", request, context, status=400 if error else 200
    )


@requires()
async def list_api(request: web.Request) -> web.StreamResponse:
    """GET /api/conversations: the same page as JSON (``cursor``, ``limit`` up to 200)."""
    now, idle = _now_and_idle(request)
    try:
        flt, cursor = _parse_list_request(request)
        limit = int(request.query.get("limit") or q.PAGE_SIZE)
    except (q.FilterError, ValueError) as exc:
        message = str(exc) if isinstance(exc, q.FilterError) else "limit 必须是整数"
        return web.json_response({"error": message}, status=400)
    page = await _read(
        request,
        lambda s: q.list_conversations(
            s, flt, cursor=cursor, limit=limit, now=now, idle_seconds=idle
        ),
    )
    return web.json_response(page.to_json(), dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# --- transcript ------------------------------------------------------------------


async def _render_transcript(
    request: web.Request,
    *,
    error: str | None = None,
    status: int = 200,
    reveal_error: dict[str, Any] | None = None,
    revealed: q.MessageView | None = None,
) -> web.StreamResponse:
    now, idle = _now_and_idle(request)
    cid = _conversation_id(request)
    try:
        transcript = await _read(
            request, lambda s: q.get_transcript(s, cid, masked=True, now=now, idle_seconds=idle)
        )
    except q.NotFound:
        return _not_found(request)
    panel = await takeover.panel_context(request, transcript.conversation)
    user = request.get(USER_KEY)
    return aiohttp_jinja2.render_template(
        "console/transcript.html",
        request,
        {
            "transcript": transcript,
            "conversation": transcript.conversation,
            "error": error,
            "notice": request.query.get("done"),
            # Internal steps (actions, slot changes, events) are hidden unless asked for.
            "show_internal": request.query.get("internal") == "1",
            # Trainers and admins also see the technical names beside the labels.
            "trainer_view": user is not None and user.role in ("trainer", "admin"),
            "reveal_categories": REVEAL_CATEGORIES,
            "reveal_reason_max": REVEAL_REASON_MAX,
            "reveal_error": reveal_error,
            "revealed": revealed,
            **panel,
        },
        status=status,
    )


@requires()
async def transcript_page(request: web.Request) -> web.StreamResponse:
    """GET /console/conversations/{id}: every message in order, tags, notes, review."""
    return await _render_transcript(request)


@requires()
async def transcript_api(request: web.Request) -> web.StreamResponse:
    """GET /api/conversations/{id}: the masked transcript as JSON."""
    now, idle = _now_and_idle(request)
    cid = _conversation_id(request)
    try:
        transcript = await _read(
            request, lambda s: q.get_transcript(s, cid, masked=True, now=now, idle_seconds=idle)
        )
    except q.NotFound:
        return _not_found(request)
    return web.json_response(transcript.to_json(), dumps=_dumps)


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type == "application/json":
        body = await request.json()
        return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _change(
    request: web.Request, work: Callable[[Session, int, dict[str, str], CurrentUser], Any]
) -> web.StreamResponse:
    """Run one change on a conversation; pages redirect back, the API answers JSON."""
    cid = _conversation_id(request)
    user = _user(request)
    fields = await _form(request)
    try:
        result = await _db(request, lambda s: work(s, cid, fields, user))
    except q.NotFound:
        return _not_found(request)
    except q.FilterError as exc:
        if is_api(request.path):
            return web.json_response({"error": str(exc)}, status=400)
        return await _render_transcript(request, error=str(exc), status=400)
    if is_api(request.path):
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)
    raise web.HTTPSeeOther(f"{LIST_PATH}/{cid}")


def _add_tag(s: Session, cid: int, fields: dict[str, str], user: CurrentUser) -> str:
    return q.add_tag(s, cid, fields.get("tag", ""))


def _remove_tag(s: Session, cid: int, fields: dict[str, str], user: CurrentUser) -> bool:
    return q.remove_tag(s, cid, fields.get("tag", ""))


def _add_note(s: Session, cid: int, fields: dict[str, str], user: CurrentUser) -> dict[str, Any]:
    return q.add_note(s, cid, user.username, fields.get("text", "")).to_json()


def _review(s: Session, cid: int, fields: dict[str, str], user: CurrentUser) -> bool:
    reviewed = fields.get("reviewed", "1") not in ("0", "false", "")
    q.mark_reviewed(s, cid, user.username, reviewed)
    return reviewed


@requires()
async def add_tag(request: web.Request) -> web.StreamResponse:
    """POST .../tags (field ``tag``)."""
    return await _change(request, _add_tag)


@requires()
async def remove_tag(request: web.Request) -> web.StreamResponse:
    """POST .../tags/delete (field ``tag``)."""
    return await _change(request, _remove_tag)


@requires()
async def add_note(request: web.Request) -> web.StreamResponse:
    """POST .../notes (field ``text``)."""
    return await _change(request, _add_note)


@requires()
async def review(request: web.Request) -> web.StreamResponse:
    """POST .../review (``reviewed=0`` takes the mark back)."""
    return await _change(request, _review)


def reveal_reason(fields: dict[str, str]) -> tuple[str, str | None]:
    """(reason text, category) of a reveal request; raises FilterError without a reason."""
    category = (fields.get("reason_category") or "").strip() or None
    if category is not None and category not in REVEAL_CATEGORIES:
        raise q.FilterError("未知的原因类别")
    reason = " ".join((fields.get("reason") or "").split())
    if len(reason) < REVEAL_REASON_MIN:
        raise q.FilterError("请填写查看原文的原因（至少 2 个字），原因会记入审计日志。")
    if len(reason) > REVEAL_REASON_MAX:
        raise q.FilterError(f"原因最多 {REVEAL_REASON_MAX} 个字。")
    return reason, category


def _wants_json(request: web.Request) -> bool:
    return is_api(request.path) or "application/json" in request.headers.get("Accept", "")


@requires("admin")
async def reveal(request: web.Request) -> web.StreamResponse:
    """POST .../messages/{mid}/reveal (``reason``, optional ``reason_category``): the raw
    message, audited with the reason. Without a reason: 400 (JSON), or the transcript
    again with the error (the page's form)."""
    cid = _conversation_id(request)
    mid = int(request.match_info["mid"])
    user = _user(request)
    ip = client_ip(request)
    fields = await _form(request)
    try:
        reason, category = reveal_reason(fields)
    except q.FilterError as exc:
        if _wants_json(request):
            return web.json_response({"error": str(exc), "code": "reason_required"}, status=400)
        failed = {
            "id": mid,
            "message": str(exc),
            "category": fields.get("reason_category") or "",
            "reason": (fields.get("reason") or "")[:REVEAL_REASON_MAX],
        }
        return await _render_transcript(request, status=400, reveal_error=failed)

    def work(session: Session) -> q.MessageView:
        view = q.raw_message(session, cid, mid)
        detail: dict[str, Any] = {"conversation_id": cid, "kind": view.kind, "reason": reason}
        if category:
            detail["reason_category"] = category
        audit.record(
            session,
            actor=user.username,
            action="reveal",
            target=f"message:{mid}",
            detail=detail,
            ip=ip,
        )
        return view

    try:
        view = await _db(request, work)
    except q.NotFound:
        if _wants_json(request):
            return web.json_response({"error": "没有找到该消息"}, status=404)
        return error_response(request, 404, "没有找到该消息。")
    if not _wants_json(request):
        return await _render_transcript(request, revealed=view)
    body = {"id": view.id, "text": view.text, "entities": view.entities}
    if view.kind == "slot":
        body["value"] = view.value
    return web.json_response(body, dumps=_dumps)


# --- export ----------------------------------------------------------------------


def _csv_cell(value: Any) -> str:
    """A CSV cell that spreadsheet programs will not evaluate as a formula."""
    cell = "" if value is None else str(value)
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([_csv_cell(v) for v in values])
    return buffer.getvalue()


def _csv_row(row: q.ConversationRow, customer_id: str, first_text: str) -> list[Any]:
    flags = set(row.flags)
    yes = {True: "是", False: "否"}
    return [
        row.id, row.channel_label, row.customer, customer_id, row.started, row.last,
        row.last_intent_label, row.last_intent or "",
        "" if row.last_confidence is None else f"{row.last_confidence:.2f}",
        row.status_label, row.urgent_label, yes["fallback" in flags], yes["complaint" in flags],
        yes["low_confidence" in flags], " ".join(row.tags), row.message_count,
        yes[row.reviewed], row.reviewed_by or "", first_text,
    ]


async def _start_export(
    request: web.Request, fmt: str, content_type: str
) -> tuple[web.StreamResponse, q.ConversationFilter, bool] | web.StreamResponse:
    """Parse the filter, write the audit entry, and open the streamed response."""
    try:
        flt = q.ConversationFilter.from_params(request.query)
    except q.FilterError as exc:
        return _bad_request(request, str(exc))
    user = _user(request)
    masked = not user.is_admin
    now, idle = _now_and_idle(request)
    ip = client_ip(request)

    def work(session: Session) -> int:
        total, _ = q.count_matches(
            session, flt, cap=10**9, budget_seconds=None, now=now, idle_seconds=idle
        )
        audit.record(
            session,
            actor=user.username,
            action="export",
            target=f"conversations.{fmt}",
            detail={"format": fmt, "filter": flt.to_params(), "count": total, "masked": masked},
            ip=ip,
        )
        return total or 0

    count = await _db(request, work)
    stamp = datetime.now(CST).strftime("%Y%m%d-%H%M%S")
    response = web.StreamResponse(
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="conversations-{stamp}.{fmt}"',
            "X-Export-Count": str(count),
            "X-Export-Masked": "1" if masked else "0",
        }
    )
    await response.prepare(request)
    return response, flt, masked


def _csv_batch(
    session: Session, *, flt: q.ConversationFilter, before: int | None, masked: bool,
    now: float, idle: int,
) -> tuple[list[q.ConversationRow], dict[int, str], dict[int, str]]:
    rows = q.iter_conversations(
        session, flt, before_id=before, limit=EXPORT_BATCH, now=now, idle_seconds=idle
    )
    ids = [r.id for r in rows]
    firsts = q.first_user_texts(session, ids, masked=masked)
    customers = {} if masked else q.customer_ids(session, ids)
    return rows, firsts, customers


def _json_batch(
    session: Session, *, flt: q.ConversationFilter, before: int | None, masked: bool,
    now: float, idle: int,
) -> tuple[list[q.Transcript], dict[int, str]]:
    rows = q.iter_conversations(
        session, flt, before_id=before, limit=EXPORT_BATCH // 5, now=now, idle_seconds=idle
    )
    customers = {} if masked else q.customer_ids(session, [r.id for r in rows])
    return q.transcripts_for(session, rows, masked=masked), customers


@requires()
async def export_csv(request: web.Request) -> web.StreamResponse:
    """GET /console/export.csv: one row per conversation, UTF-8 with BOM (opens in Excel)."""
    started = await _start_export(request, "csv", "text/csv; charset=utf-8")
    if isinstance(started, web.StreamResponse):
        return started
    response, flt, masked = started
    now, idle = _now_and_idle(request)
    await response.write((CSV_BOM + _csv_line(CSV_COLUMNS)).encode("utf-8"))
    before: int | None = None
    while True:
        batch = functools.partial(
            _csv_batch, flt=flt, before=before, masked=masked, now=now, idle=idle
        )
        rows, firsts, customers = await _db(request, batch)
        if not rows:
            break
        chunk = "".join(
            _csv_line(_csv_row(r, customers.get(r.id) or "", firsts.get(r.id, ""))) for r in rows
        )
        await response.write(chunk.encode("utf-8"))
        before = rows[-1].id
    await response.write_eof()
    return response


@requires()
async def export_json(request: web.Request) -> web.StreamResponse:
    """GET /console/export.json: full transcripts (a JSON array), streamed in batches."""
    started = await _start_export(request, "json", "application/json; charset=utf-8")
    if isinstance(started, web.StreamResponse):
        return started
    response, flt, masked = started
    now, idle = _now_and_idle(request)
    await response.write(b"[")
    before: int | None = None
    first = True
    while True:
        batch = functools.partial(
            _json_batch, flt=flt, before=before, masked=masked, now=now, idle=idle
        )
        transcripts, customers = await _db(request, batch)
        if not transcripts:
            break
        parts = []
        for transcript in transcripts:
            item = transcript.to_json()
            if not masked:
                item["conversation"]["customer_id"] = customers.get(transcript.conversation.id)
            parts.append(("" if first else ",\n") + _dumps(item))
            first = False
        await response.write("".join(parts).encode("utf-8"))
        before = transcripts[-1].conversation.id
    await response.write(b"]\n")
    await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    """Register this module's routes (and the templates' label filters)."""
    setup_jinja(aiohttp_jinja2.get_env(app))
    r = app.router
    r.add_get("/console", console_root)
    r.add_get("/console/", console_root, name="console_root")
    r.add_get(LIST_PATH, list_page, name="conversations")
    r.add_get("/api/conversations", list_api, name="api_conversations")
    r.add_get(LIST_PATH + r"/{id:\d+}", transcript_page, name="transcript")
    r.add_get(r"/api/conversations/{id:\d+}", transcript_api, name="api_transcript")
    for prefix in (LIST_PATH, "/api/conversations"):
        r.add_post(prefix + r"/{id:\d+}/tags", add_tag)
        r.add_post(prefix + r"/{id:\d+}/tags/delete", remove_tag)
        r.add_post(prefix + r"/{id:\d+}/notes", add_note)
        r.add_post(prefix + r"/{id:\d+}/review", review)
    r.add_post(LIST_PATH + r"/{id:\d+}/messages/{mid:\d+}/reveal", reveal, name="reveal")
    r.add_post(r"/api/conversations/{id:\d+}/messages/{mid:\d+}/reveal", reveal, name="api_reveal")
    r.add_get("/console/export.csv", export_csv, name="export_csv")
    r.add_get("/console/export.json", export_json, name="export_json")


def setup_background(app: web.Application) -> None:
    """Register this module's background tasks (cleanup_ctx): reading Rasa's events."""
    from . import ingest

    app.cleanup_ctx.append(ingest.ingest_ctx)
