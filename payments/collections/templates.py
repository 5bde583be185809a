"""The words of reminders: one template per tone (plain text, HTML, subject), built in and
editable by staff.

Staff-edited templates run in Jinja's sandbox (no attribute tricks reach Python internals)
and the HTML one autoescapes, so an invoice number from the ERP cannot inject markup. A
template is test-rendered with sample data before it is saved: a broken one is refused with
the line that is wrong, never discovered by the tick at send time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import delete
from sqlalchemy.orm import Session

from payments.collections.models import TONES, ReminderTemplate
from payments.staff import audit

_TEXT = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
_HTML = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
MAX_LENGTH = 20_000


class TemplateProblem(ValueError):
    """A template that cannot be saved; ``fields`` name the part that is wrong."""

    def __init__(self, message: str, fields: dict[str, str]) -> None:
        super().__init__(message)
        self.fields = fields


@dataclass(frozen=True)
class Words:
    """A tone's subject, plain-text body and HTML body (Jinja source)."""

    subject: str
    text: str
    html: str
    edited_by: str | None = None


@dataclass(frozen=True)
class Rendered:
    """A reminder written out for one customer."""

    subject: str
    text: str
    html: str


_SUBJECT = ("{% if overdue %}{{ invoices|length }} overdue invoice{{ 's' if invoices|length > 1 }}"
            "{% else %}Invoice{{ 's' if invoices|length > 1 }} due soon{% endif %}"
            " from {{ business }}")
_LIST_TEXT = """{% for i in invoices %}
- Invoice {{ i.number }}: {{ i.amount_due }}, {{ i.due }}

  View and pay: {{ i.pay_url }}
  PDF: {{ i.pdf_url }}
{% endfor %}

All your open invoices, to pay several at once: {{ statement_url }}
"""
_LIST_HTML = """<ul>
{% for i in invoices %}
<li>Invoice <strong>{{ i.number }}</strong>: {{ i.amount_due }}, {{ i.due }}
 — <a href="{{ i.pay_url }}">view and pay</a> · <a href="{{ i.pdf_url }}">PDF</a></li>
{% endfor %}
</ul>
<p><a href="{{ statement_url }}">All your open invoices</a>, to pay several at once.</p>
"""
_OPENINGS = {
    "polite": ("{% if overdue %}A friendly reminder: the invoices below are past due."
               "{% else %}A courtesy note: the invoices below fall due soon.{% endif %}",
               "If you have already paid, thank you, and please ignore this message. If "
               "something is not right with an invoice, reply and we will sort it out."),
    "partnership": ("We value working with you, and we noticed the invoices below are still "
                    "open.",
                    "If the timing is difficult, reply to this email: we would rather agree "
                    "a date or a plan with you than keep sending reminders."),
    "firm": ("The invoices below are now well past due and still unpaid.",
             "Please pay them within 7 days, or reply to tell us when you will. If you have "
             "paid in the last few days, thank you: the invoices will update shortly."),
}


def _builtin(tone: str) -> Words:
    opening, closing = _OPENINGS[tone]
    text = (f"Hello {{{{ customer }}}},\n\n{opening}\n{_LIST_TEXT}\n{closing}\n\n"
            "{{ business }}\n")
    html = (f"<p>Hello {{{{ customer }}}},</p>\n<p>{opening}</p>\n{_LIST_HTML}"
            f"<p>{closing}</p>\n<p>{{{{ business }}}}</p>\n")
    return Words(_SUBJECT, text, html)


BUILTIN: dict[str, Words] = {tone: _builtin(tone) for tone in TONES}
SAMPLE: dict[str, Any] = {
    "customer": "Northwind Traders", "business": "Example Co", "overdue": True,
    "statement_url": "https://pay.example.com/s/…",
    "invoices": [{"number": "INV-1001", "amount_due": "$1,250.00", "due_date": "2026-11-30",
                  "due": "due 2026-11-30 (7 days ago)", "days_overdue": 7, "pay_url": "https://pay.example.com/i/…",
                  "pdf_url": "https://pay.example.com/i/…/pdf"}],
}


def words(session: Session, tone: str) -> Words:
    """The tone's current words: staff's edit, or the built-in ones."""
    row = session.get(ReminderTemplate, tone)
    if row is None:
        return BUILTIN[tone]
    return Words(row.subject, row.text_body, row.html_body, row.updated_by)


@lru_cache(maxsize=64)
def _compiled(source: str, html: bool) -> Template:
    # Compiling is most of a render's cost; a tick writes thousands from a few sources.
    return (_HTML if html else _TEXT).from_string(source)


def render(template: Words, context: dict[str, Any]) -> Rendered:
    """Write a reminder; the subject becomes one line (no header can be injected)."""
    subject = " ".join(_compiled(template.subject, False).render(context).split())
    return Rendered(subject[:300], _compiled(template.text, False).render(context),
                    _compiled(template.html, True).render(context))


def save(session: Session, actor: audit.Actor, tone: str, subject: str, text: str,
         html: str) -> Words:
    """Store staff's words for ``tone`` after a trial render; audited."""
    if tone not in TONES:
        raise TemplateProblem("There is no such tone.", {"tone": "Choose a tone."})
    candidate = Words(subject.strip(), text.replace("\r\n", "\n"), html.replace("\r\n", "\n"))
    fields = {name: "This part is empty." for name in ("subject", "text", "html")
              if not getattr(candidate, name).strip()}
    fields |= {name: f"At most {MAX_LENGTH} characters." for name in ("subject", "text", "html")
               if len(getattr(candidate, name)) > MAX_LENGTH}
    for name in ("subject", "text", "html"):
        if name not in fields and (problem := _trial(candidate, name)):
            fields[name] = problem
    if "subject" not in fields and "_url" in candidate.subject:
        fields["subject"] = "Links go in the text, not in the subject."
    if fields:
        raise TemplateProblem("The template needs fixing.", fields)
    before = words(session, tone)
    row = session.get(ReminderTemplate, tone) or ReminderTemplate(tone=tone)
    row.subject, row.text_body, row.html_body = candidate.subject, candidate.text, candidate.html
    row.updated_by = actor.label
    session.add(row)
    session.flush()
    audit.record(session, actor, "reminders.template_save", ("reminder_template", tone),
                 _audited(before), _audited(candidate))
    return words(session, tone)


def _audited(words_: Words) -> dict:
    # Every part, in full: these are the words every customer of the tone receives.
    return {"subject": words_.subject, "text": words_.text, "html": words_.html}


def reset(session: Session, actor: audit.Actor, tone: str) -> None:
    """Back to the built-in words for ``tone``; audited."""
    before = words(session, tone)
    session.execute(delete(ReminderTemplate).where(ReminderTemplate.tone == tone))
    audit.record(session, actor, "reminders.template_reset", ("reminder_template", tone),
                 _audited(before), _audited(BUILTIN[tone]))


def _trial(candidate: Words, name: str) -> str | None:
    env = _HTML if name == "html" else _TEXT
    try:
        env.from_string(getattr(candidate, name)).render(SAMPLE)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        return f"{exc.message or exc}" + (f" (line {line})" if line else "")
    return None
