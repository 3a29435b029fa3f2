"""Schemathesis extensions for the contract run (loaded through `hooks` in schemathesis.toml).

Two custom checks. They are what lets the config accept documented non-2xx answers in
`positive_data_acceptance` and documented 5xx answers in `not_a_server_error` without hiding a
gateway failure: each such answer must be explained by the request itself, using only what the spec
documents outside JSON Schema (the error matrix, the destination rules, webhook mode, and the
emulator's test values in info.description, "The embedded emulator's test values").

* `server_error_only_for_its_test_value` (every case): a 5xx is right only when the request's CHAT_ID
  is the emulator test value documented for exactly that status and error code. A crash answered 500
  INTERNAL_SERVER_ERROR, a 502 for a good upstream answer, a 503 from nowhere: all fail.
* `valid_data_refused_only_for_documented_reasons` (schema-valid cases): a non-2xx answer must be one
  the request explains, e.g. 400 TRANSFER_ID_EMPTY when it names no destination. A gateway that refuses
  a valid call for any other reason fails.
"""

from __future__ import annotations

import json
import re
from typing import Any

import schemathesis

# The emulator's test values: CHAT_ID -> (status, error code) the gateway answers (spec, info.description).
# The platform's act for every method; a method's own only for the methods the table names.
PLATFORM_TEST_VALUES: dict[int, tuple[int, str]] = {
    4004: (400, "INVALID_REQUEST"),
    4011: (401, "NO_AUTH_FOUND"),
    4012: (401, "expired_token"),
    4031: (403, "WRONG_AUTH_TYPE"),
    4032: (403, "ACCESS_DENIED"),
    4033: (403, "INVALID_CREDENTIALS"),
    4034: (403, "insufficient_scope"),
    4035: (403, "user_access_error"),
    4041: (404, "ERROR_MANIFEST_IS_NOT_AVAILABLE"),
    4291: (429, "OPERATION_TIME_LIMIT"),
    5001: (500, "INTERNAL_SERVER_ERROR"),
    5002: (500, "ERROR_UNEXPECTED_ANSWER"),
    5003: (500, "PORTAL_DELETED"),
    5031: (503, "QUERY_LIMIT_EXCEEDED"),
    5032: (503, "OVERLOAD_LIMIT"),
    5901: (502, "UPSTREAM_BAD_RESPONSE"),  # the emulator answers 200 with a body that is not JSON
    5902: (502, "UPSTREAM_BAD_RESPONSE"),  # the emulator answers an undocumented 418
    5903: (502, "UPSTREAM_UNREACHABLE"),  # the emulator drops the connection
    5904: (504, "UPSTREAM_TIMEOUT"),  # the emulator answers after the run's upstream timeout
}
METHOD_TEST_VALUES: dict[str, dict[int, tuple[int, str]]] = {
    "imopenlines.bot.session.transfer": {
        4001: (400, "BOT_ID_ERROR"),
        4002: (400, "OPERATOR_WRONG"),
        4003: (400, "WRONG_CHAT"),
    },
    "imopenlines.bot.session.operator": {4003: (400, "WRONG_CHAT")},
    "imopenlines.bot.session.message.send": {},
    "imopenlines.bot.session.finish": {4001: (400, "BOT_ID_ERROR")},
}


def _method(case: Any) -> str | None:
    """The Bitrix24 method a case calls, at any of its paths (plain, `.json`, `/rest/{userId}/{secret}/...`)."""
    if case.method.upper() != "POST" or not case.path.startswith("/rest/"):
        return None
    last = case.path.rsplit("/", 1)[-1]
    name = last[: -len(".json")] if last.endswith(".json") else last
    return name if name in METHOD_TEST_VALUES else None


def _test_values(case: Any) -> dict[int, tuple[int, str]]:
    method = _method(case)
    return {} if method is None else {**PLATFORM_TEST_VALUES, **METHOD_TEST_VALUES[method]}


_DIGITS = re.compile(r"^[0-9]{1,10}$")


def _chat_id(body: dict[str, Any]) -> int | None:
    """CHAT_ID as the gateway reads it from a JSON or form body (a form sends digits as text)."""
    value = body.get("CHAT_ID")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.match(value):
        return int(value)
    return None


def _answer(response: Any) -> tuple[int, str | None]:
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        body = None
    return response.status_code, body.get("error") if isinstance(body, dict) else None


def _explanations(case: Any) -> set[tuple[int, str]]:
    """Every non-2xx answer the spec documents for this schema-valid request, whatever the order.

    The served spec says everything else a valid transfer needs (a body, a destination, no `auth` in
    webhook mode), so only what the spec documents outside JSON Schema is left: the emulator's test values.
    """
    reasons = {
        # The gateway holds the method paused for a moment after any request of the run met the test
        # value 4291; meanwhile it answers every transfer 429 OPERATION_TIME_LIMIT (the Rate limits section).
        (429, "OPERATION_TIME_LIMIT"),
    }
    # A key the run sent before with other parameters (Schemathesis reuses header values), or one in flight
    # (the Safe retries section).
    if any(name.lower() == "idempotency-key" for name in (case.headers or {})):
        reasons |= {(409, "IDEMPOTENCY_KEY_MISMATCH"), (409, "IDEMPOTENCY_KEY_IN_USE")}
    chat_id = _chat_id(case.body) if isinstance(case.body, dict) else None
    test_values = _test_values(case)
    if chat_id in test_values:
        reasons.add(test_values[chat_id])
    return reasons


def _is_positive(case: Any) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


@schemathesis.check
def server_error_only_for_its_test_value(ctx: Any, response: Any, case: Any) -> None:
    """A 5xx answer must be the documented answer to the emulator test value in CHAT_ID."""
    status, code = _answer(response)
    if status < 500:
        return None
    chat_id = _chat_id(case.body) if isinstance(case.body, dict) and _method(case) else None
    expected = _test_values(case).get(chat_id) if chat_id is not None else None
    if expected == (status, code):
        return None
    reason = (
        f"CHAT_ID {chat_id!r} is not an emulator test value that answers a 5xx"
        if expected is None or expected[0] < 500
        else f"the test value CHAT_ID {chat_id} answers {expected[0]} {expected[1]}"
    )
    raise AssertionError(
        f"Server error {status} {code or '(no error code)'} that no upstream failure explains: {reason}. "
        "Against the embedded emulator the gateway answers a 5xx only to the test values documented in "
        "the spec (info.description), so this one is the gateway's own failure."
    )


@schemathesis.check
def valid_data_refused_only_for_documented_reasons(ctx: Any, response: Any, case: Any) -> None:
    """A schema-valid call of a method answered non-2xx must be refused for a reason the spec documents."""
    status, code = _answer(response)
    if status < 400 or not _is_positive(case) or not _method(case):
        return None
    reasons = _explanations(case)
    if (status, code) in reasons:
        return None
    documented = ", ".join(f"{s} {c}" for s, c in sorted(reasons))
    raise AssertionError(
        f"Schema-valid call refused with {status} {code or '(no error code)'}, which nothing in the "
        f"request explains. The spec documents only these refusals for it: {documented}."
    )
