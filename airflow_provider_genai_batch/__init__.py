"""Apache Airflow provider for LLM batch inference across providers, behind one DAG shape."""

from __future__ import annotations

__version__ = "0.1.0"
