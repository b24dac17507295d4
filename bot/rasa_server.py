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
* ``PUT /model`` (a trainer activating a model version) loaded the model on the
  server's event loop: every conversation stalled for the whole load (~60 s for
  the project's model). The model is now loaded in a worker thread; messages are
  answered by the previous model until the new one replaces it.
* Loading a TensorFlow model (DIET, ResponseSelector, TED) runs one training step
  to build its weights, and tracing that step as a graph took most of the load.
  That step now runs eagerly (its result is overwritten by the saved weights right
  after); the prediction graph is still traced during the load, as before, so
  the first message is not slower.
* Rasa rebuilds each conversation from its stored events on every message, and
  finding an event's class by its name walked Event's whole subclass tree each
  time: a third of the server's CPU in a 150-message conversation. Classes found
  are now remembered by name (a name not found still goes through Rasa's code).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

logger = logging.getLogger(__name__)

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


# Set while Rasa's ``load_agent`` runs: ``Agent.load_model`` calls are collected
# here and run in a worker thread afterwards (a context variable: per request).
_deferred_loads: ContextVar[list[tuple[Any, Any, Any]] | None] = ContextVar(
    "bankbot_deferred_loads", default=None
)


def _deferrable_load_model(original: Callable[..., None]) -> Callable[..., None]:
    def load_model(self: Any, model_path: Any, fingerprint: Any = None) -> None:
        pending = _deferred_loads.get()
        if pending is None:
            original(self, model_path, fingerprint)
        else:
            pending.append((self, model_path, fingerprint))

    load_model.__wrapped__ = original  # type: ignore[attr-defined]
    return load_model


def _load_agent_off_the_loop(original: Callable[..., Any]) -> Callable[..., Any]:
    async def load_agent(*args: Any, **kwargs: Any) -> Any:
        pending: list[tuple[Any, Any, Any]] = []
        token = _deferred_loads.set(pending)
        try:
            agent = await original(*args, **kwargs)  # stores and broker, no model yet
        finally:
            _deferred_loads.reset(token)
        for target, model_path, fingerprint in pending:
            # Errors propagate: Rasa's PUT /model answers them as a LoadingError.
            await asyncio.to_thread(target.load_model, model_path, fingerprint)
        return agent

    load_agent.__wrapped__ = original  # type: ignore[attr-defined]
    return load_agent


_eager_lock = threading.Lock()
_eager_users = 0


@contextlib.contextmanager
def functions_run_eagerly() -> Iterator[None]:
    """TensorFlow functions run eagerly inside (process-wide; nesting and threads counted)."""
    import tensorflow as tf

    global _eager_users
    with _eager_lock:
        _eager_users += 1
        if _eager_users == 1:
            tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        with _eager_lock:
            _eager_users -= 1
            if _eager_users == 0:
                tf.config.run_functions_eagerly(False)


def _load_with_eager_build(original: Callable[..., Any]) -> Any:
    def load(
        cls: Any,
        model_file_name: Any,
        model_data_example: Any,
        predict_data_example: Any = None,
        finetune_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        with functions_run_eagerly():
            model = original(
                cls, model_file_name, model_data_example, None, finetune_mode, *args, **kwargs
            )
        if not finetune_mode and predict_data_example:
            # Rasa's own warm-up: trace the prediction graph now, not on the first message.
            model.run_inference(predict_data_example)
        return model

    load.__wrapped__ = original  # type: ignore[attr-defined]
    return classmethod(load)


# Event type name -> class, filled as Rasa resolves them.
_event_classes: dict[str, type] = {}


def _cached_resolve_by_type(original: Callable[..., Any]) -> Callable[..., Any]:
    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = _event_classes.get(type_name)
        if cls is not None:
            return cls
        cls = original(type_name, default)  # raises ValueError for an unknown name
        if cls is not None and getattr(cls, "type_name", None) == type_name:
            _event_classes[type_name] = cls
        return cls

    resolve_by_type.__wrapped__ = original  # type: ignore[attr-defined]
    return resolve_by_type


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

        import rasa.core.agent
        from rasa.utils.tensorflow.models import RasaModel

        agent_cls = rasa.core.agent.Agent
        agent_cls.load_model = _deferrable_load_model(agent_cls.load_model)  # type: ignore[method-assign]
        rasa.core.agent.load_agent = _load_agent_off_the_loop(rasa.core.agent.load_agent)
        RasaModel.load = _load_with_eager_build(RasaModel.load.__func__)  # type: ignore[method-assign,assignment]

        from rasa.shared.core.events import Event

        Event.resolve_by_type = staticmethod(  # type: ignore[method-assign,assignment]
            _cached_resolve_by_type(Event.resolve_by_type)
        )
        _installed = True


def with_token_from_env(argv: list[str], environ: Mapping[str, str]) -> list[str]:
    """``argv`` plus ``--auth-token`` from ``RASA_TOKEN`` for ``run`` when it has none.

    bot/run.py passes the token this way: a command-line argument is readable by
    every local user (``ps``), a process's environment only by its owner.
    """
    token = environ.get("RASA_TOKEN", "")
    given = any(arg == "--auth-token" or arg.startswith("--auth-token=") for arg in argv)
    if len(argv) < 2 or argv[1] != "run" or not token or given:
        return argv
    # One argument with "=": a token starting with "-" (token_urlsafe, 1 in 64) would
    # otherwise be read as an option and Rasa would not start.
    return [*argv, f"--auth-token={token}"]


def main() -> None:
    """Runs Rasa's command line (``sys.argv`` as for ``rasa``) with the fixes."""
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv = with_token_from_env(sys.argv, os.environ)
    rasa_main()


if __name__ == "__main__":
    main()
