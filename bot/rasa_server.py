"""The ``rasa`` command line with bankbot's runtime fixes for Rasa 3.6.

``python -m bot.rasa_server run ...`` takes the same arguments as ``rasa run ...``
(bot/run.py starts the Rasa server this way). :func:`install` changes how Rasa
works, never what it answers:

* Rasa validates every action server response with ``jsonschema.validate``,
  which checks the (constant) response schema against the JSON Schema
  meta-schema again on every call: ~50 ms of CPU per custom action on the
  2-core machine, a quarter of the server's time per message. The schema is
  now checked once; a valid response is accepted after the same validation of
  the response itself, and an invalid one still goes through Rasa's own code,
  so its error and message are unchanged.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

_installed = False
_lock = threading.Lock()
# Canonical JSON of a schema -> its validator class (schema already checked).
_checked: dict[str, Any] = {}
_MAX_SCHEMAS = 32


def checked_validator_class(schema: dict[str, Any]) -> Any:
    """The jsonschema validator class for ``schema``, which is checked on first use.

    Raises ``jsonschema.exceptions.SchemaError`` like ``jsonschema.validate`` would.
    """
    from jsonschema.validators import validator_for

    key = json.dumps(schema, sort_keys=True, default=repr)
    cls = _checked.get(key)
    if cls is None:
        cls = validator_for(schema)
        cls.check_schema(schema)
        if len(_checked) >= _MAX_SCHEMAS:
            _checked.clear()
        _checked[key] = cls
    return cls


def is_valid(instance: Any, schema: dict[str, Any]) -> bool:
    """Whether ``jsonschema.validate(instance, schema)`` would pass."""
    validator = checked_validator_class(schema)(schema)
    return next(iter(validator.iter_errors(instance)), None) is None


def _fast_validate_action_result(
    original: Callable[[Any, Any], bool],
) -> Callable[[Any, Any], bool]:
    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        if is_valid(result, self.action_response_format_spec()):
            return True
        return original(self, result)  # raises Rasa's ValidationError

    _validate_action_result.__wrapped__ = original  # type: ignore[attr-defined]
    return _validate_action_result


def install() -> None:
    """Applies the fixes to the imported Rasa (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        from rasa.core.actions.action import RemoteAction

        RemoteAction._validate_action_result = _fast_validate_action_result(  # type: ignore[method-assign]
            RemoteAction._validate_action_result
        )
        _installed = True


def main() -> None:
    """Runs Rasa's command line (``sys.argv`` as for ``rasa``) with the fixes."""
    install()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
