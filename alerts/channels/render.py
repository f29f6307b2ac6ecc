"""A notification put into words: plain text, HTML, Slack mrkdwn, Telegram HTML.

Every renderer says the same things in the same order: the headline (story title, how
many subjects, severity), the summary in Arabic and English, each subject with observed
vs expected, ratio, p-value and its 24-hour sparkline, the alert events delivered, the
top evidence (title, outlet, link, a snippet with the name highlighted) and a dashboard
link. Arabic is kept as written; right-to-left runs are left to the reader's client
(every client that operators use here renders mixed Arabic and English lines).

>>> sparkline([0, 1, 2, 4, 8])
'▁▂▃▅█'
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from raqib.messages import Evidence
from raqib.notifications import Notification, SubjectLine

BARS = "▁▂▃▄▅▆▇█"
TOP_EVIDENCE = 5


def sparkline(counts: Sequence[int]) -> str:
    """A bar per value, scaled to the largest (all zero: the lowest bar)."""
    top = max(counts, default=0)
    if top <= 0:
        return BARS[0] * len(counts)
    return "".join(BARS[min(len(BARS) - 1, round(c / top * (len(BARS) - 1)))] for c in counts)


def figures(line: SubjectLine) -> str:
    """``12 vs 0.2 expected (x60, p=1.2e-18)``."""
    return (
        f"{line.observed} vs {line.expected:.1f} expected (x{line.ratio:.0f}, p={line.p_value:.1e})"
    )


def subject_text(line: SubjectLine) -> str:
    status = "" if line.status == "firing" else " [resolved]"
    spark = f" {line.sparkline}" if line.sparkline else ""
    return f"{line.name_ar} ({line.name_en}) — {line.rule}: {figures(line)}{spark}{status}"


def _snippet(e: Evidence, mark: Callable[[str], str], escape: Callable[[str], str]) -> str:
    if not e.snippet:
        return ""
    if e.highlight is None:
        return escape(e.snippet)
    start, end = e.highlight
    text = e.snippet
    return escape(text[:start]) + mark(text[start:end]) + escape(text[end:])


def text(n: Notification) -> str:
    """Plain text (e-mail text part, console, logs)."""
    lines = [n.headline, n.summary_ar, n.summary_en, ""]
    lines += [f"- {subject_text(s)}" for s in n.subjects]
    lines += ["", f"Outlets: {', '.join(n.outlets)}"]
    lines.append(f"From {n.first_seen:%Y-%m-%d %H:%M} to {n.last_seen:%H:%M} UTC")
    lines.append("")
    for e in n.evidence[:TOP_EVIDENCE]:
        lines.append(f"* {e.title} — {e.source}" + (f" <{e.url}>" if e.url else ""))
        snippet = _snippet(e, lambda s: f"«{s}»", lambda s: s)
        if snippet:
            lines.append(f"  {snippet}")
    lines.append("")
    lines.append("Alert events: " + ", ".join(f"{a.alert_id} {a.status}" for a in n.alerts))
    if n.dashboard_url:
        lines.append(f"Dashboard: {n.dashboard_url}")
    return "\n".join(lines)


def html_body(n: Notification) -> str:
    """HTML (e-mail HTML part): the same content, the names in bold, right-to-left aware."""
    esc = html.escape
    subjects = "".join(f"<li>{esc(subject_text(s))}</li>" for s in n.subjects)
    evidence = "".join(_html_evidence(e) for e in n.evidence[:TOP_EVIDENCE])
    dashboard = f'<p><a href="{esc(n.dashboard_url)}">Dashboard</a></p>' if n.dashboard_url else ""
    events = ", ".join(f"{esc(a.alert_id)} {a.status}" for a in n.alerts)
    return (
        f'<html><body><h2 dir="auto">{esc(n.headline)}</h2>'
        f'<p dir="rtl">{esc(n.summary_ar)}</p><p>{esc(n.summary_en)}</p>'
        f"<ul>{subjects}</ul><p>Outlets: {esc(', '.join(n.outlets))}</p>"
        f"<ol>{evidence}</ol><p>Alert events: {events}</p>{dashboard}</body></html>"
    )


def _html_evidence(e: Evidence) -> str:
    esc = html.escape
    title = f'<a href="{esc(e.url)}">{esc(e.title)}</a>' if e.url else esc(e.title)
    snippet = _snippet(e, lambda s: f"<b>{esc(s)}</b>", esc)
    extra = f'<br><span dir="auto">{snippet}</span>' if snippet else ""
    return f"<li>{title} — {esc(e.source)}{extra}</li>"


def _mrkdwn_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(n: Notification) -> str:
    """Slack mrkdwn: names in bold, links as <url|title>."""
    esc = _mrkdwn_escape
    lines = [f"*{esc(n.headline)}*", esc(n.summary_ar), esc(n.summary_en)]
    lines += [f"• {esc(subject_text(s))}" for s in n.subjects]
    for e in n.evidence[:TOP_EVIDENCE]:
        title = f"<{e.url}|{esc(e.title)}>" if e.url else esc(e.title)
        lines.append(f"› {title} — {esc(e.source)}")
        snippet = _snippet(e, lambda s: f"*{esc(s)}*", esc)
        if snippet:
            lines.append(f"   _{snippet}_")
    if n.dashboard_url:
        lines.append(f"<{n.dashboard_url}|Dashboard>")
    return "\n".join(lines)


def telegram_html(n: Notification) -> str:
    """Telegram's HTML subset (b, i, a): names in bold."""
    esc = html.escape
    lines = [f"<b>{esc(n.headline)}</b>", esc(n.summary_ar), esc(n.summary_en), ""]
    lines += [f"• {esc(subject_text(s))}" for s in n.subjects]
    lines.append("")
    for e in n.evidence[:TOP_EVIDENCE]:
        title = f'<a href="{esc(e.url)}">{esc(e.title)}</a>' if e.url else esc(e.title)
        lines.append(f"› {title} — {esc(e.source)}")
        snippet = _snippet(e, lambda s: f"<b>{esc(s)}</b>", esc)
        if snippet:
            lines.append(f"<i>{snippet}</i>")
    if n.dashboard_url:
        lines.append(f'<a href="{esc(n.dashboard_url)}">Dashboard</a>')
    return "\n".join(lines)
