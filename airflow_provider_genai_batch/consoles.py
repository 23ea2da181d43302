"""Where a person looks at a job: the provider's public console, or the host the connection points at.

A connection on a provider's public API gets that provider's console page (the job's own page where the
console has one). A connection pointed elsewhere (an emulator, a proxy, a gateway, an Azure-style base
URL, a Bedrock or Vertex endpoint override) has jobs the public console never shows, and no console page
of its own that this provider could know of: its link is the job's API resource on that host, the very
URL the hook reads the job from. The worker that submits knows the connection and stores the result in
the job reference, so the API server rendering the link needs no connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.http import ApiRequest, absolute_url

PUBLIC_API_HOSTS: Mapping[str, re.Pattern[str]] = {
    "gemini": re.compile(r"generativelanguage\.googleapis\.com"),
    "openai": re.compile(r"api\.openai\.com"),
    "anthropic": re.compile(r"api\.anthropic\.com"),
    "bedrock": re.compile(r"bedrock(-fips)?\.[a-z0-9-]+\.amazonaws\.com"),
    "vertex": re.compile(r"([a-z0-9-]+-)?aiplatform\.googleapis\.com"),
}
"""Each provider's public API hosts, whose jobs its public console shows; a gateway has none."""


def is_public(provider: str, base_url: str) -> bool:
    """Whether ``base_url`` is the provider's own public API (not an emulator, proxy, gateway or override)."""
    pattern = PUBLIC_API_HOSTS.get(provider)
    if pattern is None:
        return False
    try:
        host = httpx.URL(base_url).host
    except httpx.InvalidURL:
        return False
    return pattern.fullmatch(host) is not None


def resource_url(base_url: str, request: ApiRequest) -> str:
    """The absolute URL ``request`` goes to, resolved as the hook's client resolves it (its base URL ends in /),
    without the user and password a base URL may carry (``https://user:pass@proxy/...``): the link travels in the
    job ref (XCom, the manifest, Asset events) and is shown to anyone who sees the task."""
    url = absolute_url(base_url.rstrip("/") + "/", request.url).copy_with(userinfo=b"")
    return str(httpx.URL(url, params=request.params)) if request.params else str(url)


def job_page(hook: BatchHook[Any], job_name: str) -> str:
    """Where a person looks at ``job_name``: the public console, or the job's resource on the configured host."""
    base_url = hook.settings.base_url
    if is_public(hook.provider, base_url):
        return type(hook).console_url(job_name)
    operation = hook._op_get_batch(job_name)
    try:
        request = next(operation)
    finally:
        operation.close()
    return resource_url(base_url, request)
