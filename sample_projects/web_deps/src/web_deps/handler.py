"""Validates the event with a pydantic model and answers with the versions the layer provides."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pydantic_core
import requests
from pydantic import BaseModel, Field, ValidationError


class Greeting(BaseModel):
    """The event this function accepts, e.g. {"name": "Ada", "times": 2}."""

    name: str = Field(min_length=1, max_length=64)
    times: int = Field(default=1, ge=1, le=5)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    try:
        greeting = Greeting.model_validate(event)
    except ValidationError as e:
        errors = e.errors(include_url=False, include_context=False, include_input=False)
        return {"statusCode": 400, "body": json.dumps({"errors": errors})}
    body = {
        "message": " ".join([f"Hello, {greeting.name}!"] * greeting.times),
        "requests": requests.__version__,
        "pydantic": pydantic.VERSION,
        "pydantic_core": pydantic_core.__version__,
    }
    return {"statusCode": 200, "body": json.dumps(body)}
