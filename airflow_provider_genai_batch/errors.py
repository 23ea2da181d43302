"""Typed exceptions: what went wrong, where, and with what provider status; never a secret."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException


class GenAIBatchError(AirflowException):
    """Base class of every error this provider raises."""


class InputValidationError(GenAIBatchError):
    """The input is unusable; raised before anything is uploaded or billed."""

    def __init__(self, reason: str, *, source: str | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        where = ", ".join(part for part in (source, f"line {line}" if line is not None else None) if part is not None)
        super().__init__(f"{where}: {reason}" if where else reason)


class ProviderAPIError(GenAIBatchError):
    """A provider answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        provider_status: str | None = None,
        provider: str | None = None,
    ) -> None:
        self.message = message
        self.http_status = http_status
        self.provider_status = provider_status
        self.provider = provider
        self.retry_after: float | None = None
        """Seconds the server asked to wait before the next call (its ``Retry-After``), where an answer said."""
        self.method: str | None = None
        """The HTTP method of the request this answered, where known: it tells a refused create (a POST) from a
        failed read of the job it made."""
        self.job_name: str | None = None
        """The job a status poll read when this answered it, where one did: on a 404 it names the part of a group to
        ask first whether it is gone."""
        detail = " ".join(str(p) for p in (http_status, provider_status) if p is not None)
        prefix = f"{provider} API error" if provider else "API error"
        super().__init__(f"{prefix} ({detail}): {message}" if detail else f"{prefix}: {message}")


class NotFoundError(ProviderAPIError):
    """The resource does not exist (HTTP 404)."""


class ResultsGoneError(ProviderAPIError):
    """A landing read a job's results and the provider answered that it no longer has them (an output file expired or
    deleted: 404, or Gemini's 403 for a file that may not exist); the provider's answer is its ``__cause__``."""

    @classmethod
    def of(cls, answer: ProviderAPIError) -> ResultsGoneError:
        """``answer``, the provider's, as this error (the same message and statuses)."""
        gone = cls(
            answer.message,
            http_status=answer.http_status,
            provider_status=answer.provider_status,
            provider=answer.provider,
        )
        gone.method = answer.method
        return gone


class UnreadableAnswerError(ProviderAPIError):
    """A call was answered with success but a body that is not the API's answer (an HTML page from a proxy, an empty
    or cut body, a field the API always sends missing); transient, as a lost answer is: the call may have acted."""


class CredentialsUnavailableError(GenAIBatchError):
    """Credentials could not be had for a passing reason (their server unreachable, or answering that it is busy);
    transient, as a network error is: nothing reached the provider."""


class JobFailedError(GenAIBatchError):
    """A job ended in a failed, expired or cancelled state, or with too many failed rows."""


class JobTimeoutError(GenAIBatchError):
    """A job did not reach a terminal state before its deadline."""
