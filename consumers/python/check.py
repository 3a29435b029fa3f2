"""A Python consumer of the gateway.

It calls the gateway through the client openapi-python-client generates from openapi/openapi.yaml
(package gateway_client, in the git-ignored .generated/ next to this file; `make consumers` generates it)
and checks that each answer decodes into the generated types: the transfer, and its three siblings
(operator, message.send, finish), each with a 200 and a 400 in that operation's own error type. Exit code 0: every check passed; 1: one
failed.

    GATEWAY_KEY=<key> python check.py --url http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent / ".generated"))

from gateway_client import AuthenticatedClient, Client  # noqa: E402
from gateway_client.api.finish import finish_session  # noqa: E402
from gateway_client.api.message import send_session_message  # noqa: E402
from gateway_client.api.operator import operator_session  # noqa: E402
from gateway_client.api.transfer import transfer_session  # noqa: E402
from gateway_client.models import (  # noqa: E402
    Error400,
    Error400Error,
    Error401,
    Error401Error,
    FinishError400,
    FinishError400Error,
    FinishRequest,
    FinishResult,
    MessageSendError400,
    MessageSendError400Error,
    MessageSendRequest,
    MessageSendRequestNAME,
    MessageSendResult,
    OperatorError400,
    OperatorError400Error,
    OperatorRequest,
    OperatorResult,
    Time,
    TransferRequest,
    TransferResult,
)
from gateway_client.types import Response  # noqa: E402

DOCUMENTED_BODY_TYPES = {"application/json", "application/x-www-form-urlencoded"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("GATEWAY_URL", "http://localhost:8080"), help="the gateway's base URL (or GATEWAY_URL)")
    args = parser.parse_args()
    key = os.environ.get("GATEWAY_KEY", "")

    sent: list[str] = []

    def record(request: httpx.Request) -> None:
        sent.append(request.headers.get("content-type", ""))

    options = {"timeout": httpx.Timeout(10.0), "httpx_args": {"event_hooks": {"request": [record]}}}
    # The gateway API key travels as "Authorization: Bearer <key>" (security scheme GatewayApiKey).
    client: Client | AuthenticatedClient = AuthenticatedClient(base_url=args.url, token=key, **options) if key else Client(base_url=args.url, **options)
    failures = 0

    def check(name: str, body: Callable[[], None]) -> None:
        nonlocal failures
        try:
            body()
        except Exception as error:  # noqa: BLE001 - every failure is reported, then counted
            failures += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
        else:
            print(f"ok   {name}")

    def success() -> None:
        response = transfer_session.sync_detailed(client=client, body=TransferRequest(chat_id=112, user_id=12))
        result = response.parsed
        if response.status_code != 200 or not isinstance(result, TransferResult):
            raise AssertionError(f"unexpected answer {response.status_code} {response.content!r}")
        if result.result is not True:
            raise AssertionError(f"result is {result.result!r}")
        time = result.time
        if not isinstance(time, Time) or not isinstance(time.date_start, datetime.datetime) or time.date_start.tzinfo is None:
            raise AssertionError(f"time is not a decoded Time: {time!r}")
        if time.date_finish < time.date_start or not time.start > 0:
            raise AssertionError(f"time is inconsistent: {time!r}")
        # The generated client sends the spec's two body types alike; either is documented and accepted.
        if sent[-1] not in DOCUMENTED_BODY_TYPES:
            raise AssertionError(f"sent Content-Type {sent[-1]!r}")

    check("200: transfer chat 112 to user 12 → TransferResult(result=True)", success)

    def error(chat_id: int, user_id: int | None, code: Error400Error) -> Callable[[], None]:
        def run() -> None:
            request = TransferRequest(chat_id=chat_id) if user_id is None else TransferRequest(chat_id=chat_id, user_id=user_id)
            response = transfer_session.sync_detailed(client=client, body=request)
            body = response.parsed
            if response.status_code != 400 or not isinstance(body, Error400):
                raise AssertionError(f"unexpected answer {response.status_code} {response.content!r}")
            if body.error is not code or not body.error_description:
                raise AssertionError(f"got {body!r}")

        return run

    check("400: no destination → Error400(error=Error400Error.TRANSFER_ID_EMPTY)", error(112, None, Error400Error.TRANSFER_ID_EMPTY))
    check(
        "400: Bitrix24's BOT_ID_ERROR, relayed (emulator test value CHAT_ID 4001) → Error400(error=Error400Error.BOT_ID_ERROR)",
        error(4001, 12, Error400Error.BOT_ID_ERROR),
    )

    # The transfer's three siblings, each answering its own result type and its own 400 type.
    def sibling_success(call: Callable[[], Response[Any]], result_type: type) -> Callable[[], None]:
        def run() -> None:
            response = call()
            result = response.parsed
            if response.status_code != 200 or not isinstance(result, result_type):
                raise AssertionError(f"unexpected answer {response.status_code} {response.content!r}")
            if result.result is not True or not isinstance(result.time, Time):
                raise AssertionError(f"got {result!r}")

        return run

    def sibling_error(call: Callable[[], Response[Any]], error_type: type, code: StrEnum) -> Callable[[], None]:
        def run() -> None:
            response = call()
            body = response.parsed
            if response.status_code != 400 or not isinstance(body, error_type):
                raise AssertionError(f"unexpected answer {response.status_code} {response.content!r}")
            if body.error is not code or not body.error_description:
                raise AssertionError(f"got {body!r}")

        return run

    check(
        "200: operator for chat 112 → OperatorResult(result=True)",
        sibling_success(lambda: operator_session.sync_detailed(client=client, body=OperatorRequest(chat_id=112)), OperatorResult),
    )
    check(
        "400: Bitrix24's WRONG_CHAT, relayed (emulator test value CHAT_ID 4003) → OperatorError400(error=OperatorError400Error.OPERATOR_WRONGCHAT)",
        sibling_error(
            lambda: operator_session.sync_detailed(client=client, body=OperatorRequest(chat_id=4003)),
            OperatorError400,
            OperatorError400Error.OPERATOR_WRONGCHAT,
        ),
    )
    check(
        "200: message.send NAME=DEFAULT with a MESSAGE to chat 112 → MessageSendResult(result=True)",
        sibling_success(
            lambda: send_session_message.sync_detailed(
                client=client, body=MessageSendRequest(chat_id=112, name=MessageSendRequestNAME.DEFAULT, message="Hello from Python")
            ),
            MessageSendResult,
        ),
    )
    check(
        "400: message.send NAME=DEFAULT without MESSAGE, refused by the gateway → MessageSendError400(error=MessageSendError400Error.MESSAGE_SEND_INVALIDPARAMETER)",
        sibling_error(
            lambda: send_session_message.sync_detailed(client=client, body=MessageSendRequest(chat_id=112, name=MessageSendRequestNAME.DEFAULT)),
            MessageSendError400,
            MessageSendError400Error.MESSAGE_SEND_INVALIDPARAMETER,
        ),
    )
    check(
        "200: finish chat 112 → FinishResult(result=True)",
        sibling_success(lambda: finish_session.sync_detailed(client=client, body=FinishRequest(chat_id=112)), FinishResult),
    )
    check(
        "400: Bitrix24's BOT_ID_ERROR, relayed (emulator test value CHAT_ID 4001) → FinishError400(error=FinishError400Error.FINISH_BOTIDERROR)",
        sibling_error(
            lambda: finish_session.sync_detailed(client=client, body=FinishRequest(chat_id=4001)),
            FinishError400,
            FinishError400Error.FINISH_BOTIDERROR,
        ),
    )

    def retried() -> None:
        # The same Idempotency-Key twice: the second answer is the first, replayed, and a new key is a new call.
        idempotency_key = f"python-consumer-{os.getpid()}-{datetime.datetime.now().timestamp()}"
        answers = [
            send_session_message.sync_detailed(
                client=client,
                body=MessageSendRequest(chat_id=112, name=MessageSendRequestNAME.DEFAULT, message="Sent once"),
                idempotency_key=idempotency_key,
            )
            for _ in range(2)
        ]
        if [a.status_code for a in answers] != [200, 200] or answers[0].content != answers[1].content:
            raise AssertionError(f"unexpected answers {[(a.status_code, a.content) for a in answers]!r}")
        if "idempotent-replayed" in answers[0].headers or answers[1].headers.get("idempotent-replayed") != "true":
            raise AssertionError(f"Idempotent-Replayed: {answers[0].headers!r}, {answers[1].headers!r}")

    check("200 twice: message.send retried with one Idempotency-Key → the second is the first, Idempotent-Replayed: true", retried)

    if key:

        def no_key() -> None:
            anonymous = Client(base_url=args.url, timeout=httpx.Timeout(10.0))
            response = transfer_session.sync_detailed(client=anonymous, body=TransferRequest(chat_id=112, user_id=12))
            body = response.parsed
            if response.status_code != 401 or not isinstance(body, Error401):
                raise AssertionError(f"unexpected answer {response.status_code} {response.content!r}")
            if body.error is not Error401Error.GATEWAY_AUTH_REQUIRED:
                raise AssertionError(f"got {body!r}")

        check("401: no API key → Error401(error=Error401Error.GATEWAY_AUTH_REQUIRED)", no_key)
    else:
        print("skip 401: no API key → GATEWAY_AUTH_REQUIRED (set GATEWAY_KEY for a gateway that requires keys)")

    print(f"python consumer: the generated client sent its bodies as {sorted(set(sent))}")
    if failures:
        print(f"python consumer: {failures} check(s) failed", file=sys.stderr)
        return 1
    print("python consumer: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
