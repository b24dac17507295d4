"""Distances and a small gazetteer of Shanghai places people name instead of a branch."""

from __future__ import annotations

import math

# Well-known places (WGS-84, approximate) for "外滩附近" style searches.
LANDMARKS: dict[str, tuple[float, float]] = {
    "外滩": (31.2400, 121.4905),
    "南京东路": (31.2385, 121.4810),
    "豫园": (31.2272, 121.4921),
    "城隍庙": (31.2262, 121.4920),
    "新天地": (31.2196, 121.4747),
    "淮海路": (31.2186, 121.4640),
    "淮海中路": (31.2186, 121.4640),
    "田子坊": (31.2093, 121.4693),
    "上海火车站": (31.2495, 121.4557),
    "中山公园": (31.2190, 121.4172),
    "世纪大道": (31.2288, 121.5270),
    "世纪公园": (31.2155, 121.5513),
    "张江": (31.2051, 121.5903),
    "虹桥火车站": (31.1947, 121.3206),
    "衡山路": (31.2050, 121.4467),
    "复旦大学": (31.2990, 121.5035),
}


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in kilometres."""
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def landmark(text: str) -> tuple[float, float] | None:
    """Coordinates of a known place named in ``text`` (the longest name wins)."""
    for name in sorted(LANDMARKS, key=len, reverse=True):
        if name in text:
            return LANDMARKS[name]
    return None
