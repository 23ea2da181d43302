"""The Providers page links the provider to its documentation.

Airflow 3.3's provider discovery sets every provider's ``documentation-url`` from its distribution's
``Project-URL: Documentation, ...`` metadata (``[project.urls] Documentation`` in ``pyproject.toml``),
replacing whatever ``get_provider_info`` returns; the Providers page links the package name to it, else to
a page on airflow.apache.org that does not exist for a third-party provider.
"""

from __future__ import annotations

import importlib.metadata

from airflow.api_fastapi.core_api.services.public.providers import _provider_mapper
from airflow.providers_manager import ProvidersManager

DISTRIBUTION = "airflow-provider-genai-batch"
DOCUMENTATION_URL = "https://pypi.org/project/airflow-provider-genai-batch/"
"""The README, as PyPI renders it: the provider's documentation."""


def test_the_distribution_names_its_documentation():
    urls = importlib.metadata.distribution(DISTRIBUTION).metadata.get_all("Project-URL") or []
    assert f"Documentation, {DOCUMENTATION_URL}" in urls


def test_the_providers_page_gets_the_documentation_url():
    provider = ProvidersManager().providers[DISTRIBUTION]
    assert _provider_mapper(provider).documentation_url == DOCUMENTATION_URL
