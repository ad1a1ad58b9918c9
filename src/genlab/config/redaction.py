"""Keep secrets out of everything a run writes (printed config, saved config, trackers).

A value is redacted when its key looks like a credential (api_key, token, secret,
password) or when it equals the value of such an environment variable — which catches a
`${oc.env:WANDB_API_KEY}` interpolation stored under an innocent name.
"""

from __future__ import annotations

import os
import re
from typing import Any

SECRET_NAME = re.compile(r"(api[_-]?key|token|secret|password|passwd|credential)", re.I)
REDACTED = "<redacted>"


def secret_env_values() -> set[str]:
    return {v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 8}


def redact(node: Any, _secrets: set[str] | None = None) -> Any:
    """A copy of a plain config (dicts/lists/scalars) with secrets replaced."""
    secrets = secret_env_values() if _secrets is None else _secrets
    if isinstance(node, dict):
        return {k: REDACTED if SECRET_NAME.search(str(k)) and v not in (None, "")
                else redact(v, secrets) for k, v in node.items()}
    if isinstance(node, list):
        return [redact(v, secrets) for v in node]
    if isinstance(node, str) and any(s in node for s in secrets):
        return REDACTED
    return node


def redact_override(override: str) -> str:
    """`key=value` from a command line, as it may be printed: the value redacted when the
    key looks like a credential or the value holds a secret environment value."""
    key, sep, value = override.partition("=")
    return f"{key}={redact({key: value})[key]}" if sep else override
