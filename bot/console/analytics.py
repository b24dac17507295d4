"""Staff console: the monthly analytics report (page, JSON API, local Chart.js bundle).

Every number comes from the console tables with grouped SQL; nothing loads rows one by one.
A conversation counts on a day (China Standard Time) when the customer wrote at least
one message that day, so a WeChat sender who returns months later shows up again.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import Integer, case, cast, distinct, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.settings import PROJECT_ROOT

from .auth import requires
from .db import read
from .keys import EXECUTOR_KEY, SESSIONS_KEY
from .labels import Labels, get_labels
from .models import ComplaintTicket, Conversation, Handoff, Message
from .queries import CHANNEL_LABELS as QUERY_CHANNEL_LABELS

logger = logging.getLogger(__name__)

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991
CHINA_OFFSET_SECONDS = 8 * 3600
DAY_SECONDS = 86400
MAX_RANGE_DAYS = 366
TOP_INTENTS = 10
FALLBACK_INTENT = "nlu_fallback"
COMPLAINT_REASON = "complaint"

CHARTJS_PATH = PROJECT_ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.js"
CHARTJS_URL = "/vendor/chart.umd.js"
CHARTJS_KEY = web.AppKey("chartjs_path", Path)

PRESETS = {"last7": "最近7天", "month": "本月", "prev_month": "上月"}
CHANNEL_LABELS = {**QUERY_CHANNEL_LABELS, "": "未知"}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ReportInputError(ValueError):
    """A bad date range or parameter; the message is shown to staff (Chinese)."""


# --- dates ----------------------------------------------------------------------------


def china_today(now: float | None = None) -> date:
    """Today's date in China Standard Time."""
    return datetime.fromtimestamp(time.time() if now is None else now, CHINA_TZ).date()


def day_start_epoch(day: date) -> float:
    """Epoch seconds of 00:00 China time on ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ).timestamp()


def preset_range(name: str, today: date) -> tuple[date, date]:
    """``(from, to)`` of a preset: last7 (today and the 6 days before), month, prev_month."""
    if name == "last7":
        return today - timedelta(days=6), today
    if name == "month":
        return today.replace(day=1), today
    if name == "prev_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    raise ReportInputError(f"未知的时间范围：{name}")


def parse_day(value: str, field: str) -> date:
    """A ``YYYY-MM-DD`` query value as a date."""
    if not _DATE_RE.match(value):
        raise ReportInputError(f"{field} 日期格式应为 YYYY-MM-DD，收到：{value[:40]}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ReportInputError(f"{field} 不是有效日期：{value}") from exc


def check_range(date_from: date, date_to: date) -> None:
    """Reject reversed or overlong ranges."""
    if date_from > date_to:
        raise ReportInputError("开始日期不能晚于结束日期")
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise ReportInputError(f"时间范围最长 {MAX_RANGE_DAYS} 天")


def resolve_query(query: Any, today: date) -> dict[str, Any]:
    """Range and channel from request query values (``from``/``to``, ``preset``, ``channel``)."""
    raw_from = (query.get("from") or "").strip()
    raw_to = (query.get("to") or "").strip()
    preset = (query.get("preset") or "").strip()
    if raw_from or raw_to:
        if not (raw_from and raw_to):
            raise ReportInputError("请同时提供开始日期 from 和结束日期 to")
        date_from, date_to = parse_day(raw_from, "from"), parse_day(raw_to, "to")
        preset = ""
    else:
        preset = preset or "month"
        date_from, date_to = preset_range(preset, today)
    check_range(date_from, date_to)
    channel = (query.get("channel") or "").strip() or None
    if channel is not None and len(channel) > 32:
        raise ReportInputError("渠道名称过长")
    return {"date_from": date_from, "date_to": date_to, "channel": channel, "preset": preset}


# --- the report -------------------------------------------------------------------------


def _day_index(column: Any, dialect: str) -> ColumnElement:
    """Days since 1970-01-01 in China time of an epoch column, as an integer."""
    shifted = (column + CHINA_OFFSET_SECONDS) / DAY_SECONDS
    if dialect == "sqlite":  # CAST truncates; epochs here are positive
        return cast(shifted, Integer)
    return cast(func.floor(shifted), Integer)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median(session: Session, diff: Any, where: list[Any]) -> tuple[float | None, int]:
    """Median of ``diff`` over handoff rows matching ``where``, with the row count (in SQL)."""
    count = session.execute(
        select(func.count()).select_from(Handoff).join(Conversation).where(*where)
    ).scalar_one()
    if not count:
        return None, 0
    middle = (
        session.execute(
            select(diff)
            .select_from(Handoff)
            .join(Conversation)
            .where(*where)
            .order_by(diff)
            .offset((count - 1) // 2)
            .limit(2 - count % 2)
        )
        .scalars()
        .all()
    )
    return round(sum(middle) / len(middle), 1), count


def compute_report(
    session: Session,
    *,
    date_from: date,
    date_to: date,
    channel: str | None = None,
    labels: Labels | None = None,
) -> dict[str, Any]:
    """The analytics numbers for ``date_from``..``date_to`` (inclusive, China time).

    Complaints are counted per complaint ticket (distinct ``complaint_ticket_id``
    values the bot set in the range); the conversations flagged as complaints are
    reported beside them. Intents and reasons carry their Chinese labels.
    """
    table = labels or get_labels()
    check_range(date_from, date_to)
    start = day_start_epoch(date_from)
    end = day_start_epoch(date_to + timedelta(days=1))
    dialect = session.get_bind().dialect.name
    channel_filter = [Conversation.channel == channel] if channel is not None else []
    in_range = [Message.ts >= start, Message.ts < end]
    user_in_range = [Message.kind == "user", *in_range]

    def messages_of(*columns: Any) -> Any:
        """SELECT over messages, joined to conversations only when filtering by channel."""
        query = select(*columns).select_from(Message)
        if channel is None:
            return query
        return query.join(Conversation, Conversation.id == Message.conversation_id).where(
            *channel_filter
        )

    def count_if(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    # Conversations (with a customer message that day) and customer messages per day/channel:
    # first per conversation and day (index only), then joined to the conversations.
    day = _day_index(Message.ts, dialect).label("day")
    conversation_days = (
        select(day, Message.conversation_id.label("cid"), func.count().label("n"))
        .where(*user_in_range)
        .group_by(day, Message.conversation_id)
        .subquery()
    )
    per_day_rows = session.execute(
        select(
            conversation_days.c.day,
            Conversation.channel,
            func.count(),
            func.sum(conversation_days.c.n),
        )
        .select_from(conversation_days)
        .join(Conversation, Conversation.id == conversation_days.c.cid)
        .where(*channel_filter)
        .group_by(conversation_days.c.day, Conversation.channel)
    ).all()

    # Per conversation active in the range, then per channel (a conversation has one
    # channel, so these add up to the totals).
    active = (
        select(Message.conversation_id.label("cid"), func.count().label("n"))
        .where(*user_in_range)
        .group_by(Message.conversation_id)
        .subquery()
    )
    handoff_ids = select(Handoff.conversation_id).where(
        Handoff.requested_at >= start, Handoff.requested_at < end
    )
    complaint_ids = handoff_ids.where(Handoff.reason == COMPLAINT_REASON)
    per_channel_rows = session.execute(
        select(
            Conversation.channel,
            func.count(),
            func.coalesce(func.sum(active.c.n), 0),
            func.count(distinct(Conversation.sender_id)),
            count_if(Conversation.flag_fallback),
            count_if(Conversation.flag_complaint),
            count_if(Conversation.id.in_(handoff_ids.scalar_subquery())),
            count_if(
                or_(
                    Conversation.flag_complaint,
                    Conversation.id.in_(complaint_ids.scalar_subquery()),
                )
            ),
        )
        .select_from(active)
        .join(Conversation, Conversation.id == active.c.cid)
        .where(*channel_filter)
        .group_by(Conversation.channel)
        .order_by(func.count().desc(), Conversation.channel)
    ).all()
    customers = session.execute(
        select(func.count(distinct(Conversation.customer_id)))
        .select_from(active)
        .join(Conversation, Conversation.id == active.c.cid)
        .where(*channel_filter)
    ).scalar_one()

    kind_rows = session.execute(
        messages_of(Message.kind, func.count())
        .where(Message.kind.in_(("user", "bot", "staff")), *in_range)
        .group_by(Message.kind)
    ).all()
    by_kind = {"user": 0, "bot": 0, "staff": 0, **{kind: int(n) for kind, n in kind_rows}}

    intent_count = func.count().label("n")
    intent_rows = session.execute(
        messages_of(Message.intent, intent_count)
        .where(*user_in_range)
        .group_by(Message.intent)
        .order_by(intent_count.desc(), Message.intent)
    ).all()

    handoff_in_range = [Handoff.requested_at >= start, Handoff.requested_at < end, *channel_filter]
    reason_rows = session.execute(
        select(Handoff.reason, func.count())
        .select_from(Handoff)
        .join(Conversation)
        .where(*handoff_in_range)
        .group_by(Handoff.reason)
        .order_by(Handoff.reason)
    ).all()
    urgent_rows = session.execute(
        select(Handoff.urgent_reason, func.count())
        .select_from(Handoff)
        .join(Conversation)
        .where(*handoff_in_range, Handoff.urgent_reason.is_not(None))
        .group_by(Handoff.urgent_reason)
        .order_by(Handoff.urgent_reason)
    ).all()
    complaint_tickets = session.execute(
        select(func.count(distinct(ComplaintTicket.ticket_id)))
        .select_from(ComplaintTicket)
        .join(Conversation, Conversation.id == ComplaintTicket.conversation_id)
        .where(ComplaintTicket.created_at >= start, ComplaintTicket.created_at < end, *channel_filter)
    ).scalar_one()
    reply_median, replied = _median(
        session,
        Handoff.first_reply_at - Handoff.requested_at,
        [*handoff_in_range, Handoff.first_reply_at.is_not(None)],
    )
    take_median, taken = _median(
        session,
        Handoff.taken_at - Handoff.requested_at,
        [*handoff_in_range, Handoff.taken_at.is_not(None)],
    )

    # Dense per-day series: every day of the range, every channel seen.
    days = [date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1)]
    epoch = date(1970, 1, 1)
    channels = sorted(row[0] for row in per_channel_rows)
    series = {ch: [0] * len(days) for ch in channels}
    day_conversations = [0] * len(days)
    day_messages = [0] * len(days)
    for index, ch, n_conv, n_msg in per_day_rows:
        slot = (epoch + timedelta(days=int(index)) - date_from).days
        series[ch][slot] = int(n_conv)
        day_conversations[slot] += int(n_conv)
        day_messages[slot] += int(n_msg)

    def total(column: int) -> int:
        return sum(int(row[column]) for row in per_channel_rows)

    conversations = total(1)
    user_messages = by_kind["user"]
    fallback_convs, flagged_complaints = total(4), total(5)
    handoff_convs, complaint_convs = total(6), total(7)
    fallback_messages = next((int(n) for i, n in intent_rows if i == FALLBACK_INTENT), 0)
    reasons = {reason: int(n) for reason, n in reason_rows}
    urgent = {reason: int(n) for reason, n in urgent_rows}

    return {
        "range": {
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "days": len(days),
            "timezone": "Asia/Shanghai",
            "channel": channel,
        },
        "totals": {
            "conversations": conversations,
            "users": total(3),
            "customers": int(customers),
            "messages": sum(by_kind.values()),
            "user_messages": user_messages,
            "bot_messages": by_kind["bot"],
            "staff_messages": by_kind["staff"],
        },
        "per_day": {
            "days": [d.isoformat() for d in days],
            "channels": channels,
            "conversations": series,
            "total_conversations": day_conversations,
            "user_messages": day_messages,
        },
        "per_channel": [
            {"channel": row[0], "conversations": int(row[1]), "user_messages": int(row[2])}
            for row in per_channel_rows
        ],
        "top_intents": [
            {
                "intent": intent,
                "label": table.intent(intent),
                "count": int(n),
                "share": _rate(int(n), user_messages),
            }
            for intent, n in intent_rows
            if intent is not None
        ][:TOP_INTENTS],
        "fallback": {
            "conversations": int(fallback_convs),
            "conversation_rate": _rate(int(fallback_convs), conversations),
            "messages": fallback_messages,
            "message_rate": _rate(fallback_messages, user_messages),
        },
        "handoff": {
            "conversations": int(handoff_convs),
            "rate": _rate(int(handoff_convs), conversations),
            "requests": sum(reasons.values()),
            "by_reason": reasons,
            "reason_labels": {reason: table.handoff_reason(reason) for reason in reasons},
            "urgent": sum(urgent.values()),
            "by_urgent_reason": urgent,
            "urgent_labels": {reason: table.urgent_reason(reason) for reason in urgent},
        },
        "complaints": {
            # One per complaint ticket (complaint_ticket_id), not per conversation.
            "total": int(complaint_tickets),
            "tickets": int(complaint_tickets),
            "conversations": int(complaint_convs),
            "flagged_conversations": int(flagged_complaints),
            "complaint_handoffs": reasons.get(COMPLAINT_REASON, 0),
        },
        "first_reply": {
            "median_seconds": reply_median,
            "replied": replied,
            "median_take_seconds": take_median,
            "taken": taken,
        },
    }


def known_channels(session: Session) -> list[str]:
    """Channels that have conversations (for the filter)."""
    query = select(Conversation.channel).distinct().order_by(Conversation.channel)
    return list(session.execute(query).scalars())


# --- web --------------------------------------------------------------------------------


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": "bad_request", "message": message}, status=status)


async def _report(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    return await read(
        request.app[SESSIONS_KEY],
        request.app[EXECUTOR_KEY],
        lambda session: compute_report(
            session,
            date_from=params["date_from"],
            date_to=params["date_to"],
            channel=params["channel"],
        ),
    )


@requires()
async def analytics_api(request: web.Request) -> web.Response:
    """GET /api/analytics?from=YYYY-MM-DD&to=YYYY-MM-DD&channel=...: the report as JSON."""
    try:
        params = resolve_query(request.query, china_today())
    except ReportInputError as exc:
        return _error(400, str(exc))
    report = await _report(request, params)
    response = web.json_response(report, dumps=lambda o: json.dumps(o, ensure_ascii=False))
    if request.query.get("download"):
        name = f"analytics_{report['range']['from']}_{report['range']['to']}.json"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@requires()
async def analytics_page(request: web.Request) -> web.Response:
    """GET /console/analytics: KPI tiles, charts and tables of the report."""
    today = china_today()
    error = None
    try:
        params = resolve_query(request.query, today)
    except ReportInputError as exc:
        error = str(exc)
        date_from, date_to = preset_range("month", today)
        params = {"date_from": date_from, "date_to": date_to, "channel": None, "preset": "month"}
    report = await _report(request, params)
    channels = await read(request.app[SESSIONS_KEY], request.app[EXECUTOR_KEY], known_channels)
    query = {"from": params["date_from"].isoformat(), "to": params["date_to"].isoformat()}
    if params["channel"]:
        query["channel"] = params["channel"]
    json_url = request.app.router["api_analytics"].url_for().with_query({**query, "download": "1"})
    response = aiohttp_jinja2.render_template(
        "console/analytics.html",
        request,
        {
            "report": report,
            "error": error,
            "params": params,
            "presets": PRESETS,
            "channels": channels,
            "channel_labels": CHANNEL_LABELS,
            "reason_labels": get_labels().tables["handoff_reasons"],
            "json_url": str(json_url),
            "chartjs_url": CHARTJS_URL,
            "chartjs_version": chartjs_version(),
        },
        status=400 if error else 200,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def chartjs_version(path: Path = CHARTJS_PATH) -> str:
    """Installed Chart.js version (for cache busting), or ``"missing"``."""
    try:
        package = path.parent.parent / "package.json"
        return str(json.loads(package.read_text("utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "missing"


async def chartjs_bundle(request: web.Request) -> web.StreamResponse:
    """Chart.js's UMD bundle from node_modules (installed by ``npm ci``; never a CDN)."""
    path = request.app[CHARTJS_KEY]
    if not path.is_file():
        logger.error("Chart.js bundle missing at %s; run `npm ci` in the project root", path)
        raise web.HTTPServiceUnavailable(
            text="图表组件 Chart.js 未安装：请在项目根目录运行 `npm ci`（chart.js bundle missing)"
        )
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=86400",
        },
    )


def setup(app: web.Application, *, chartjs_path: Path = CHARTJS_PATH) -> None:
    """Register the analytics page, its JSON API and the local Chart.js bundle."""
    app[CHARTJS_KEY] = chartjs_path
    app.router.add_get("/console/analytics", analytics_page, name="analytics")
    app.router.add_get("/api/analytics", analytics_api, name="api_analytics")
    app.router.add_get(CHARTJS_URL, chartjs_bundle, name="chartjs")


def setup_background(app: web.Application) -> None:
    """No background work for analytics."""
