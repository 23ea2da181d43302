"""Thin operators over a provider's Files API."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_genai_batch.hooks.registry import get_hook


class GenAIBatchUploadFileOperator(BaseOperator):
    """Upload a file (any ``ObjectStoragePath``) in chunks; returns the provider's file info."""

    template_fields = ("source", "display_name", "conn_id")

    def __init__(
        self,
        *,
        conn_id: str,
        source: str,
        display_name: str | None = None,
        mime_type: str = "application/jsonl",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.source = source
        self.display_name = display_name
        self.mime_type = mime_type

    def execute(self, context: Any) -> dict[str, Any]:
        path = ObjectStoragePath(self.source)
        with path.open("rb") as stream:
            info = get_hook(self.conn_id).upload_file(
                stream, display_name=self.display_name or path.name, mime_type=self.mime_type
            )
        self.log.info("uploaded %s as %s (%s bytes)", self.source, info.name, info.size_bytes)
        return info.model_dump(mode="json", exclude={"raw"})


class GenAIBatchDeleteFileOperator(BaseOperator):
    """Delete a provider file by name."""

    template_fields = ("file_name", "conn_id")

    def __init__(self, *, conn_id: str, file_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.file_name = file_name

    def execute(self, context: Any) -> None:
        get_hook(self.conn_id).delete_file(self.file_name)
        self.log.info("deleted %s", self.file_name)
