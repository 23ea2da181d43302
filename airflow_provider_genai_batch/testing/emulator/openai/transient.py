"""Rows that fail once with a retryable server error, then succeed when a later batch sends them again.

With `openai_retryable_row_share` set, a batch fails the custom_ids whose hash falls in that share with
the 500 `server_error` row the real service writes to the error file when it could not process a request,
once per custom_id: a custom_id an earlier batch already failed this way is answered normally (a batch
that stopped before answering a row did not fail it). Which rows are hit depends only on the custom_id, so
a run is reproducible; rows the endpoint refuses (a 400) keep their own answer, as they would on a retry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Set

from airflow_provider_genai_batch.testing.emulator.common import openai_error_body
from airflow_provider_genai_batch.testing.emulator.openai.answers import Answer
from airflow_provider_genai_batch.testing.emulator.openai.wire import PROVIDER
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, Store

SHARE_KEY = "retryable_row_share"
"""`JobRecord.extra` key: the share in force when the batch was created."""
FAILED_KEY = "retryable_failed_ids"
"""`JobRecord.extra` key: the custom_ids the batch failed with a server error, once its results exist."""
SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"
HASH_SPACE = 2**64


def in_share(custom_id: str, share: float) -> bool:
    """Whether the custom_id falls in the share of rows that fail once (a hash of the id, nothing else)."""
    digest = hashlib.blake2b(custom_id.encode(), digest_size=8, person=b"retryable").digest()
    return int.from_bytes(digest, "big") < share * HASH_SPACE


def server_error() -> Answer:
    """The answer of a request the service could not process: HTTP 500, `server_error`."""
    return Answer(500, openai_error_body(SERVER_ERROR_MESSAGE, "server_error"))


def failed_before(store: Store, job: JobRecord) -> frozenset[str]:
    """The custom_ids earlier OpenAI batches (created before this one) already failed with a server error."""
    earlier: set[str] = set()
    for other in store.list_jobs(PROVIDER, include_deleted=True):
        if other.seq < job.seq:
            earlier.update(other.extra.get(FAILED_KEY, ()))
    return frozenset(earlier)


class TransientFailures:
    """Decides, row by row while a batch is answered, which answers become a one-time server error."""

    def __init__(self, store: Store, job: JobRecord) -> None:
        """Read the batch's share and what earlier batches already failed."""
        self.share = float(job.extra.get(SHARE_KEY, 0.0))
        self.earlier: Set[str] = failed_before(store, job) if self.share > 0 else frozenset()
        self.failed: set[str] = set()

    def apply(self, custom_id: object, answer: Answer) -> Answer:
        """The answer to write: a server error in place of a success the first time an id of the share is seen."""
        if (
            self.share <= 0
            or answer.status_code != 200
            or not isinstance(custom_id, str)
            or custom_id in self.earlier
            or not in_share(custom_id, self.share)
        ):
            return answer
        self.failed.add(custom_id)
        return server_error()

    def record(self, job: JobRecord) -> None:
        """Remember on the batch which ids it failed, for the batches created after it."""
        if self.failed:
            job.extra[FAILED_KEY] = frozenset(self.failed)
