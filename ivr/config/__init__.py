"""The hotline's configuration: YAML files in, frozen domain objects out.

    errors.py     ConfigError(file, item, reason): the package's one error
    reader.py     strict YAML reading and the Cursor that names where it is
    schema.py     every file's shape as pydantic models, checked first (unknown keys
                  refused with a suggestion); their JSON Schema for `hotline config schema`
    shapes.py     the models' scalar types, their strict base, pydantic errors as ConfigError
    hotline.py    hotline, calendar, seats, routing, menu and prompts files
    callbacks.py  callbacks.yaml (calling hours, dialer, retries, service rules)
    twilio.py     the optional twilio: section of hotline.yaml and its auth token
    cases.py      cases.yaml (case classes, deadline terms, escalation, follow-up callbacks)

`load_config(directory)` validates everything before the first call.
"""

from ivr.config.callbacks import CallbackSettings, DialerSettings, IntakeSettings
from ivr.config.cases import CaseSettings
from ivr.config.errors import ConfigError
from ivr.config.hotline import (
    ENV_AMI_SECRET,
    ENV_DATA_DIR,
    ENV_DATABASE_URL,
    ENV_SEAT_PASSWORD,
    ENV_WEB_SECRET,
    AmiSettings,
    HotlineConfig,
    load_config,
    secret_problem,
    web_secret_problem,
)
from ivr.config.schema import WEB_LOCALES
from ivr.config.twilio import ENV_TWILIO_AUTH_TOKEN, TwilioSettings, auth_token

__all__ = [
    "ENV_TWILIO_AUTH_TOKEN",
    "TwilioSettings",
    "auth_token",
    "secret_problem",
    "web_secret_problem",
    "ENV_WEB_SECRET",
    "ENV_AMI_SECRET",
    "ENV_DATABASE_URL",
    "ENV_SEAT_PASSWORD",
    "ENV_DATA_DIR",
    "WEB_LOCALES",
    "AmiSettings",
    "CallbackSettings",
    "CaseSettings",
    "ConfigError",
    "DialerSettings",
    "HotlineConfig",
    "IntakeSettings",
    "load_config",
]
