"""The README's Python example, as written there: consumers/run.ts runs it against a real gateway
(GATEWAY_URL, GATEWAY_KEY), with the client generated into .generated/."""

import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / ".generated"))

from gateway_client import AuthenticatedClient, Client
from gateway_client.api.transfer import transfer_session
from gateway_client.models import Error400, TransferRequest, TransferResult

url = os.environ.get("GATEWAY_URL", "http://localhost:8080")
key = os.environ.get("GATEWAY_KEY")  # a gateway without keys (make start) takes Client(...)
client = AuthenticatedClient(base_url=url, token=key) if key else Client(base_url=url)
key = str(uuid.uuid4())  # safe to retry with the same key: the gateway never sends its transfer twice
answer = transfer_session.sync(client=client, body=TransferRequest(chat_id=112, user_id=12), idempotency_key=key)
if isinstance(answer, TransferResult):
    print(answer.result, answer.time.date_start)  # True, a datetime
elif isinstance(answer, Error400):
    print(answer.error, answer.error_description)  # e.g. Error400Error.TRANSFER_ID_EMPTY
else:
    sys.exit(f"unexpected answer: {answer!r}")
