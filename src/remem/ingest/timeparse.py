"""Resolve time expressions against an anchor date. Pure functions, English only.

``resolve("I went there yesterday", anchor)`` -> the absolute day; ``query_range`` turns a
question's time constraint ("in May 2023", "last year") into a date range."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
_MON = {m: i + 1 for i, m in enumerate(MONTHS)} | {m[:3]: i + 1 for i, m in enumerate(MONTHS)}
_MON["sept"] = 9
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_NUM = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
        "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
        "couple of": 2, "a couple of": 2, "few": 3, "a few": 3, "several": 3}
_MON_RE = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_NUM_RE = r"(\d{1,2}|a couple of|couple of|a few|few|several|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"


@dataclass(frozen=True)
class TimeMention:
    """A time expression found in text, resolved to an inclusive date range."""

    text: str
    start: date
    end: date
    granularity: str  # day | week | month | year

    def label(self) -> str:
        """Normalised words for indexing, e.g. "7 May 2023", "May 2023", "2023"."""
        if self.granularity == "day":
            return f"{self.start.day} {MONTHS[self.start.month - 1].title()} {self.start.year}"
        if self.granularity == "week":
            return (f"week of {self.start.day} {MONTHS[self.start.month - 1].title()} "
                    f"{self.start.year}")
        if self.granularity == "month":
            return f"{MONTHS[self.start.month - 1].title()} {self.start.year}"
        return str(self.start.year)


def _month_range(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _shift_months(d: date, months: int) -> date:
    idx = d.year * 12 + d.month - 1 + months
    y, m = divmod(idx, 12)
    return date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def _week(d: date) -> tuple[date, date]:
    start = d - timedelta(days=d.weekday())
    return start, start + timedelta(days=6)


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUM.get(word, 1)


_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\b{_NUM_RE}\s+(day|week|month|year)s?\s+ago\b", re.I), "ago"),
    (re.compile(r"\b(last|this|next|past)\s+(week|weekend|month|year)\b", re.I), "rel_unit"),
    (re.compile(r"\b(last|this|next|on|past)\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.I), "rel_weekday"),
    (re.compile(r"\b(yesterday|today|tonight|tomorrow|last night|this morning|this afternoon|this evening|the other day)\b", re.I), "day_word"),
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON_RE},?\s+(\d{{4}})\b", re.I), "dmy"),
    (re.compile(rf"\b{_MON_RE}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I), "mdy"),
    (re.compile(rf"\b{_MON_RE}\s+(?:of\s+)?(\d{{4}})\b", re.I), "my"),
    (re.compile(r"\b(?:in|since|during|of|from|by)\s+((?:19|20)\d{2})\b", re.I), "year"),
    (re.compile(rf"\b(last|this|next)\s+{_MON_RE}\b", re.I), "rel_month"),
]


def _resolve_one(kind: str, g: tuple[str, ...], anchor: date) -> tuple[date, date, str] | None:
    if kind == "ago":
        n, unit = _count(g[0].lower()), g[1].lower()
        if unit == "day":
            d = anchor - timedelta(days=n)
            return d, d, "day"
        if unit == "week":
            return (*_week(anchor - timedelta(weeks=n)), "week")
        if unit == "month":
            d = _shift_months(anchor, -n)
            return (*_month_range(d.year, d.month), "month")
        return date(anchor.year - n, 1, 1), date(anchor.year - n, 12, 31), "year"
    if kind == "rel_unit":
        which, unit = g[0].lower(), g[1].lower()
        step = {"last": -1, "past": -1, "this": 0, "next": 1}[which]
        if unit in ("week", "weekend"):
            start, end = _week(anchor + timedelta(weeks=step))
            if unit == "weekend":
                return start + timedelta(days=5), end, "week"
            return start, end, "week"
        if unit == "month":
            d = _shift_months(anchor, step)
            return (*_month_range(d.year, d.month), "month")
        y = anchor.year + step
        return date(y, 1, 1), date(y, 12, 31), "year"
    if kind == "rel_weekday":
        which, wd = g[0].lower(), WEEKDAYS.index(g[1].lower())
        delta = (anchor.weekday() - wd) % 7
        if which in ("last", "past", "on"):
            d = anchor - timedelta(days=delta or 7)
        elif which == "next":
            d = anchor + timedelta(days=((wd - anchor.weekday()) % 7) or 7)
        else:  # this
            d = anchor + timedelta(days=(wd - anchor.weekday()))
        return d, d, "day"
    if kind == "day_word":
        w = g[0].lower()
        if w in ("yesterday", "last night"):
            d = anchor - timedelta(days=1)
        elif w == "tomorrow":
            d = anchor + timedelta(days=1)
        elif w == "the other day":
            return anchor - timedelta(days=7), anchor - timedelta(days=1), "week"
        else:
            d = anchor
        return d, d, "day"
    if kind in ("dmy", "mdy"):
        day, mon, year = (g[0], g[1], g[2]) if kind == "dmy" else (g[1], g[0], g[2])
        try:
            d = date(int(year), _MON[mon.lower()[:4] if mon.lower().startswith("sept") else mon.lower()[:3]], int(day))
        except (ValueError, KeyError):
            return None
        return d, d, "day"
    if kind == "my":
        key = mon = g[0].lower()
        key = "sept" if mon.startswith("sept") else mon[:3]
        return (*_month_range(int(g[1]), _MON[key]), "month")
    if kind == "year":
        y = int(g[0])
        return date(y, 1, 1), date(y, 12, 31), "year"
    if kind == "rel_month":
        which, mon = g[0].lower(), _MON["sept" if g[1].lower().startswith("sept") else g[1].lower()[:3]]
        y = anchor.year
        if which == "last":
            y = y if mon < anchor.month else y - 1
        elif which == "next":
            y = y if mon > anchor.month else y + 1
        return (*_month_range(y, mon), "month")
    return None


def resolve(text: str, anchor: datetime | date) -> list[TimeMention]:
    """Every time expression in ``text`` resolved against ``anchor`` (when it was said),
    in order of appearance; overlapping matches keep the earliest, longest one."""
    a = anchor.date() if isinstance(anchor, datetime) else anchor
    found: list[tuple[int, int, TimeMention]] = []
    for pattern, kind in _PATTERNS:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e, _ in found):
                continue
            try:
                r = _resolve_one(kind, m.groups(), a)
            except (ValueError, OverflowError):
                r = None
            if r is not None:
                found.append((m.start(), m.end(), TimeMention(m.group(0), *r)))
    found.sort(key=lambda x: x[0])
    return [t for _, _, t in found]


_QUERY_HINT = re.compile(r"\b(in|during|on|since|before|after|last|this|ago|of)\b", re.I)


_BARE_MONTH = re.compile(rf"\b(?:in|during|of|since|early|late|mid)\s+{_MON_RE}\b(?!\s+\d)", re.I)


def query_ranges(text: str, now: datetime | date, years_back: int = 30) -> list[tuple[date, date]]:
    """The date ranges a question is constrained to ("in May 2023", "last year"), or [].

    Several mentions give the range spanning them. A month without a year ("in June")
    matches that month in any of the last ``years_back`` years."""
    if not _QUERY_HINT.search(text):
        return []
    n = now.date() if isinstance(now, datetime) else now
    mentions = resolve(text, n)
    if mentions:
        return [(min(m.start for m in mentions), max(m.end for m in mentions))]
    out = []
    for m in _BARE_MONTH.finditer(text):
        mon = _MON["sept" if m.group(1).lower().startswith("sept") else m.group(1).lower()[:3]]
        out.extend(_month_range(y, mon) for y in range(n.year - years_back, n.year + 1))
    return out
