"""The web app's languages: which one a request gets, locale formats, the language switcher.

Order of choice: the signed-in user's saved choice (users.locale), else the choice
made before signing in (kept in the session), else the browser's Accept-Language
(best match among LOCALES), else the hotline's `web.locale` (config/hotline.yaml).

Catalogs: web/translations/<babel id>/LC_MESSAGES/messages.{po,mo}; English is
the source language (docs/WEB.md: how to add or update a translation).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_skeleton
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import (
    Babel,
    format_decimal,
    format_percent,
    get_locale,
    get_timezone,
    gettext,
    refresh,
)

from ivr.config import WEB_LOCALES
from web.params import one
from web.security import current_user, safe_next

TRANSLATIONS = Path(__file__).parent / "translations"
SESSION_KEY = "locale"
# The name of each language in itself, for the switcher.
NATIVE_NAMES = {"zh-CN": "中文", "en": "English"}

bp = Blueprint("i18n", __name__)


def babel_id(tag: str) -> str:
    """Babel's identifier (the catalog directory) of a BCP 47 tag: zh-CN -> zh_Hans_CN."""
    return str(Locale.parse(tag, sep="-"))


def init_app(app: Flask, default_locale: str, timezone: str) -> None:
    """Install Flask-Babel with the locale selector, filters and the switcher route."""
    if default_locale not in WEB_LOCALES:
        raise ValueError(f"locale {default_locale!r}: use one of {', '.join(WEB_LOCALES)}")
    app.config["HOTLINE_DEFAULT_LOCALE"] = default_locale
    Babel(  # type: ignore[no-untyped-call]
        app,
        default_locale=babel_id(default_locale),
        default_timezone=timezone,
        default_translation_directories=str(TRANSLATIONS),
        locale_selector=select_locale,
    )
    app.jinja_env.filters.update(dt=dt, num=num, pct=pct, secs=secs)
    app.context_processor(
        lambda: {"html_lang": current_tag, "locales": WEB_LOCALES, "native_names": NATIVE_NAMES}
    )
    app.register_blueprint(bp)


def select_tag() -> str:
    """The language tag (one of WEB_LOCALES) of this request."""
    default: str = current_app.config["HOTLINE_DEFAULT_LOCALE"]
    if not has_request_context():
        return default
    user = current_user()
    if user is not None and user.locale in WEB_LOCALES:
        return user.locale
    chosen = session.get(SESSION_KEY)
    if isinstance(chosen, str) and chosen in WEB_LOCALES:
        return chosen
    best = request.accept_languages.best_match(WEB_LOCALES)
    return best or default


def select_locale() -> str:
    return babel_id(select_tag())


def current_tag() -> str:
    """The request's language as a tag for `<html lang>`: zh-CN or en."""
    loc = get_locale()
    if loc is None:
        return "en"
    for tag in WEB_LOCALES:
        if babel_id(tag) == str(loc):
            return tag
    return "en"


# --- the language switcher ------------------------------------------------------------


@bp.post("/language")
def choose() -> ResponseReturnValue:
    """Keep the chosen language in the session and, for a signed-in user, in users.locale."""
    from web import store
    from web.context import ctx

    tag = one("locale", request.form) or ""
    after = one("next", request.form)
    if tag not in WEB_LOCALES:
        abort(400, gettext("Unknown language %(tag)s.", tag=repr(tag[:20])))
    session[SESSION_KEY] = tag
    user = current_user()
    if user is not None:
        with ctx().runtime.sessions.begin() as s:
            store.set_user_locale(s, user.id, tag)
    refresh()  # type: ignore[no-untyped-call]
    # only back to a page of this site: "/\t/evil.example" is "//evil.example" to a browser
    return redirect(safe_next(after) or url_for("auth.index"))


# --- locale formats (Jinja filters) ---------------------------------------------------

# Date part (a CLDR skeleton, ordered and worded by the locale) and time part of each kind;
# times are 24-hour in every language, as on a contact-centre floor.
KINDS = {
    "datetime": ("yMMMd", "Hms"),  # Nov 23, 2026, 12:00:00 / 2026年11月23日 12:00:00
    "short": ("yMMMd", "Hm"),  # Nov 23, 2026, 12:00 / 2026年11月23日 12:00
    "time": (None, "Hms"),  # 12:00:00
    "hm": (None, "Hm"),  # 12:00
}


def dt(value: datetime | str | None, kind: str = "datetime") -> str:
    """A moment in the site's time zone, formatted for the request's locale.

    kind: "datetime" (date and time with seconds), "short" (date, hours and minutes),
    "time" (time with seconds), "hm" (hours and minutes).
    """
    if not value:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    locale = get_locale() or Locale.parse("en")
    local = value.astimezone(get_timezone())
    date_part, time_part = KINDS[kind]
    t = format_skeleton(time_part, local, locale=locale)
    if date_part is None:
        return t
    d = format_skeleton(date_part, local, locale=locale)
    return str(locale.datetime_formats["medium"]).replace("{1}", d).replace("{0}", t)


def num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, pattern)


def pct(value: float | None, digits: int = 1) -> str:
    """A 0..1 ratio as a percentage for the locale (– when there is none)."""
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
    return format_percent(value, pattern)


def secs(value: float | None, digits: int = 0) -> str:
    """A duration in seconds: "12 s" / "12 秒"."""
    if value is None:
        return "–"
    return gettext("%(n)s s", n=num(value, digits))
