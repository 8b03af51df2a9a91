"""Parses the event's date with python-dateutil, which lives in the dependency layer."""

from __future__ import annotations

from typing import Any

import dateutil
import six
from dateutil import parser


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    when = parser.isoparse(str(event.get("date", "2024-02-29T12:00:00+00:00")))
    return {"weekday": when.strftime("%A"), "dateutil": dateutil.__version__, "six": six.__version__}
