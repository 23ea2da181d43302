"""The batch price table: model-name matching, user overrides and the cost estimate."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from airflow_provider_genai_batch.models import PartUsage, Price, TokenUsage, UsageSummary
from airflow_provider_genai_batch.prices import (
    estimate_cost,
    model_name,
    parse_overrides,
    price_table,
    priced,
    shipped_table,
    total_cost,
)


@pytest.mark.parametrize(
    ("provider", "model", "row"),
    [
        ("openai", "gpt-4o-mini", "gpt-4o-mini"),
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("gemini", "models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini", "gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("anthropic", "claude-sonnet-4-0", "claude-sonnet-4"),
        ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("gateway", "gpt-4o-mini", "gpt-4o-mini"),
        ("gateway", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gateway", "claude-haiku-4-5", "claude-haiku-4-5"),
    ],
)
def test_a_shipped_row_prices_its_name_and_the_snapshot_ids_its_source_lists(
    provider: str, model: str, row: str
) -> None:
    price, reason = shipped_table().lookup(provider, model)
    assert reason is None and price is not None
    assert price.model == row


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-opus-4-8"),  # a newer model, not claude-opus-4 with a suffix
        ("openai", "gpt-4o-mini-transcribe"),
        ("gemini", "gemini-2.5-flash-preview-05-20"),
        ("gemini", "gemini-2.5-pro"),
        ("vertex", "publishers/google/models/gemini-2.5-flash"),
        ("bedrock", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("openai", "gpt-4o-2024-05-13"),  # priced higher than gpt-4o
        ("openai", "gpt-4o-mini-2026-01-01"),  # a snapshot the table's source does not list
        ("anthropic", "claude-sonnet-4-5-20260101"),
        ("gemini", "gemini-2.5-flash-001"),
        ("gateway", "gpt-4o-2024-05-13"),
    ],
)
def test_a_model_not_in_the_table_has_no_price_and_says_why(provider: str, model: str) -> None:
    price, reason = shipped_table().lookup(provider, model)
    assert price is None
    assert reason is not None and repr(model) in reason and "batch_prices" in reason


def test_a_snapshot_of_a_shipped_row_it_does_not_list_is_unpriced_naming_that_row() -> None:
    price, reason = shipped_table().lookup("openai", "gpt-4o-2024-05-13")
    assert price is None
    assert reason == (
        "no batch price for openai model 'gpt-4o-2024-05-13' (looked up as 'gpt-4o-2024-05-13') in the price table "
        "(its 'gpt-4o' row prices only the ids its source lists, and a snapshot's price may differ from its alias's); "
        "give its prices in batch_prices"
    )


def test_a_users_row_prices_its_name_with_a_version_or_date_after_it() -> None:
    table = price_table("openai", {"gpt-4o": {"input": 3, "output": 9}})
    price, reason = table.lookup("openai", "gpt-4o-2024-05-13")
    assert reason is None and price is not None
    assert (price.model, price.input, price.source) == ("gpt-4o", 3, "batch_prices given to the operator")


def test_a_users_row_replacing_a_shipped_row_prices_the_ids_that_row_listed() -> None:
    table = price_table("anthropic", {"claude-sonnet-4": {"input": 2, "output": 8}})
    alias, _ = table.lookup("anthropic", "claude-sonnet-4-0")
    dated, _ = table.lookup("anthropic", "claude-sonnet-4-20250514")
    assert alias is not None and (alias.input, alias.source) == (2, "batch_prices given to the operator")
    assert dated is not None and dated.input == 2


def test_a_users_row_for_a_snapshot_wins_over_the_users_row_for_its_alias() -> None:
    table = price_table(
        "openai", {"gpt-4o": {"input": 1.25, "output": 5}, "gpt-4o-2024-05-13": {"input": 2.5, "output": 7.5}}
    )
    snapshot, _ = table.lookup("openai", "gpt-4o-2024-05-13")
    alias, _ = table.lookup("openai", "gpt-4o-2024-08-06")
    assert snapshot is not None and snapshot.input == 2.5
    assert alias is not None and alias.input == 1.25


def test_a_users_row_for_a_snapshot_wins_over_the_shipped_row_listing_it() -> None:
    price, _ = price_table("openai", {"gpt-4o-mini-2024-07-18": {"input": 9, "output": 9}}).lookup(
        "openai", "gpt-4o-mini-2024-07-18"
    )
    assert price is not None and (price.model, price.input) == ("gpt-4o-mini-2024-07-18", 9)


HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}", HAIKU),
        (f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{HAIKU}", HAIKU),
        (f"eu.{HAIKU}", HAIKU),
        ("projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("models/Gemini-2.5-Flash", "gemini-2.5-flash"),
    ],
)
def test_paths_arns_and_region_prefixes_come_off_a_model_name(model: str, name: str) -> None:
    assert model_name(model) == name


def test_every_shipped_row_has_a_date_and_a_source() -> None:
    table = shipped_table()
    for provider, model in [("openai", "gpt-4o-mini"), ("gemini", "gemini-2.5-flash"), ("anthropic", "claude-3-haiku")]:
        price, _ = table.lookup(provider, model)
        assert price is not None and price.taken_on == date(2026, 12, 1) and price.source


def test_an_override_prices_a_bedrock_model_by_its_id_or_arn() -> None:
    table = price_table("bedrock", {"anthropic.claude-3-haiku": {"input": 0.125, "output": 0.625}})
    price, reason = table.lookup(
        "bedrock", "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    )
    assert reason is None and price is not None
    assert (price.input, price.output, price.source) == (0.125, 0.625, "batch_prices given to the operator")


def test_the_operator_override_wins_over_the_connection_and_the_connection_over_the_table() -> None:
    connection = '{"gpt-4o-mini": {"input": 1, "output": 2}, "gpt-4o": {"input": 3, "output": 4}}'
    table = price_table("openai", {"gpt-4o-mini": {"input": 5, "output": 6}}, connection)
    mini, _ = table.lookup("openai", "gpt-4o-mini-2024-07-18")
    full, _ = table.lookup("openai", "gpt-4o")
    nano, _ = table.lookup("openai", "gpt-4.1-nano")
    assert mini is not None and (mini.input, mini.source) == (5, "batch_prices given to the operator")
    assert full is not None and (full.input, full.source) == (3, "batch_prices in the connection extra")
    assert nano is not None and nano.taken_on == date(2026, 12, 1)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"gpt-4o": {"input": -1, "output": 2}}, r"batch_prices\['gpt-4o'\]: input: Value error, a price per million"),
        ({"gpt-4o": {"input": 1}}, r"batch_prices\['gpt-4o'\]: output: Field required"),
        ({"gpt-4o": {"input": 1, "output": 2, "cache_read": 1}}, r"batch_prices\['gpt-4o'\]: cache_read: Extra inputs"),
        ({"gpt-4o": {"input": "cheap", "output": 2}}, r"\['gpt-4o'\]: input: Input should be a valid number"),
        ({"gpt-4o": {"input": float("inf"), "output": 2}}, r"input: Value error, a price per million tokens must be"),
        ({"gpt-4o": {"input": 1, "output": float("nan")}}, r"\['gpt-4o'\]: output: Value error, a price per million"),
        ({"gpt-4o": {"input": True, "output": 2}}, r"batch_prices\['gpt-4o'\]: input: Input should be a valid number"),
        ({"gpt-4o": {"input": 1, "output": 2, "cached_input": False}}, r"\['gpt-4o'\]: cached_input: Input should be"),
        ({"gpt-4o": {"input": "1.5", "output": 2}}, r"batch_prices\['gpt-4o'\]: input: Input should be a valid number"),
        ('{"gpt-4o": {"input": 1, "output": "2"}}', r"\['gpt-4o'\]: output: Input should be a valid number"),
        ('{"gpt-4o": {"input": 1, "output": NaN}}', r"\['gpt-4o'\]: output: Value error, a price per million"),
        ({"gpt-4o": {"input": 1, "output": 2, "taken_on": 1764460800}}, r"\['gpt-4o'\]: taken_on: Value error, taken"),
        ({"gpt-4o": {"input": 1, "output": 2, "taken_on": "1764460800"}}, r"\['gpt-4o'\]: taken_on: Value error"),
        ({"gpt-4o": 1.5}, r"batch_prices\['gpt-4o'\]: prices: Input should be a valid dictionary"),
        (["gpt-4o"], r"batch_prices must map model names to prices, got list"),
        ("{not json", r"batch_prices is not JSON"),
        ({"": {"input": 1, "output": 2}}, r"model name '': it must be a non-empty string"),
    ],
)  # fmt: skip
def test_a_bad_override_is_refused_naming_the_model_the_field_and_why(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        parse_overrides(value, "the connection extra")
    assert str(raised.value).startswith("the connection extra: ")


def test_an_override_rate_may_be_an_integer_and_its_date_a_date_or_iso_text() -> None:
    parsed = parse_overrides(
        {
            "a": {"input": 1, "output": 2.5, "taken_on": "2026-11-30"},
            "b": {"input": 0, "output": 0, "taken_on": date(2026, 1, 2)},
        },
        "the operator's batch_prices",
    )
    assert (parsed["a"].input, parsed["a"].output, parsed["a"].taken_on) == (1.0, 2.5, date(2026, 11, 30))
    assert parsed["b"].taken_on == date(2026, 1, 2)


def test_prices_a_template_rendered_as_python_literal_text_are_read_as_the_dict() -> None:
    prices = {"gpt-4o": {"input": 1, "output": 2, "note": None}}

    assert parse_overrides(str(prices), "the operator's batch_prices") == parse_overrides(prices, "the operator")


PRICE = Price(provider="anthropic", model="m", input=2.0, output=10.0, cached_input=0.2, cache_write=2.5, source="s")


def test_the_cost_bills_fresh_input_cache_reads_cache_writes_and_output_each_at_its_rate() -> None:
    usage = TokenUsage(
        input_tokens=4_000_000, cached_tokens=1_000_000, cache_write_tokens=1_000_000, output_tokens=500_000
    )
    cost = estimate_cost(usage, PRICE)
    assert cost.amount == pytest.approx(2 * 2.0 + 0.2 + 2.5 + 0.5 * 10.0)
    assert cost.price == PRICE and cost.notes == [] and cost.currency == "USD"


def test_one_hour_cache_writes_are_billed_at_their_own_rate_and_five_minute_writes_at_the_cache_write_rate() -> None:
    price = PRICE.model_copy(update={"cache_write_1h": 4.0})
    usage = TokenUsage(input_tokens=3_000_000, cache_write_tokens=3_000_000, cache_write_1h_tokens=2_000_000)
    assert estimate_cost(usage, price).amount == pytest.approx(2.5 + 2 * 4.0)


def test_cache_writes_without_a_one_hour_breakdown_cost_what_they_did() -> None:
    price = PRICE.model_copy(update={"cache_write_1h": 4.0})
    usage = TokenUsage(input_tokens=3_000_000, cache_write_tokens=3_000_000)
    assert estimate_cost(usage, price).amount == estimate_cost(usage, PRICE).amount == pytest.approx(3 * 2.5)


def test_one_hour_cache_writes_without_a_one_hour_rate_are_priced_at_the_cache_write_rate_and_noted() -> None:
    cost = estimate_cost(
        TokenUsage(input_tokens=1_000_000, cache_write_tokens=1_000_000, cache_write_1h_tokens=10), PRICE
    )
    assert cost.amount == pytest.approx(2.5)
    assert cost.notes == [
        "10 one-hour cache-write tokens priced at the cache-write rate (no one-hour cache-write price)"
    ]


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-opus-4-6", "claude-3-5-haiku", "claude-haiku-4-5"])
def test_shipped_anthropic_rows_bill_one_hour_cache_writes_at_twice_the_input_and_five_minute_ones_at_1_25x(
    model: str,
) -> None:
    price, _ = shipped_table().lookup("anthropic", model)
    assert price is not None and price.cache_write_1h is not None and price.cache_write is not None
    assert (price.cache_write_1h, price.cache_write) == (
        pytest.approx(2 * price.input),
        pytest.approx(1.25 * price.input),
    )


def test_claude_3_haiku_bills_its_cache_at_its_own_prices_not_the_multiples_of_the_newer_models() -> None:
    # Anthropic's model pricing table: Haiku 3 5-minute writes $0.30, cache hits $0.03 per million (not 1.25x and
    # 0.1x of its $0.25 input); the batch discount halves them to 0.15 and 0.015.
    price, _ = shipped_table().lookup("anthropic", "claude-3-haiku-20240307")
    usage = TokenUsage(input_tokens=300_000, cached_tokens=100_000, cache_write_tokens=100_000)
    # 100,000 fresh x 0.125 + 100,000 read x 0.015 + 100,000 written x 0.15 = 12,500 + 1,500 + 15,000.
    assert estimate_cost(usage, price).amount == pytest.approx(0.029)


def test_an_override_may_give_a_one_hour_cache_write_rate() -> None:
    table = price_table("anthropic", {"claude-x": {"input": 1, "output": 5, "cache_write_1h": 2}})
    price, _ = table.lookup("anthropic", "claude-x")
    assert price is not None and price.cache_write_1h == 2


def test_thinking_is_billed_as_the_output_it_is_part_of() -> None:
    with_thinking = estimate_cost(TokenUsage(output_tokens=1_000_000, thinking_tokens=600_000), PRICE)
    assert with_thinking.amount == pytest.approx(10.0)


def test_cache_reads_without_a_cached_rate_are_priced_at_the_input_rate_and_noted() -> None:
    price = Price(provider="openai", model="m", input=1.0, output=4.0, source="s")
    cost = estimate_cost(TokenUsage(input_tokens=2_000_000, cached_tokens=1_000_000), price)
    assert cost.amount == pytest.approx(2.0)
    assert cost.notes == ["1000000 cached input tokens priced at the input rate (no cached price)"]


def test_no_price_means_no_amount_and_the_reason() -> None:
    cost = estimate_cost(TokenUsage(input_tokens=5), None, "no batch price for openai model 'x'")
    assert (cost.amount, cost.reason, cost.price) == (None, "no batch price for openai model 'x'", None)


def test_each_part_is_priced_and_the_total_is_their_sum() -> None:
    parts = [
        PartUsage(job_name="a", model="gpt-4o-mini", from_rows=TokenUsage(input_tokens=1_000_000, rows=1)),
        PartUsage(job_name="b", model="gpt-4o-mini-2024-07-18", reported=TokenUsage(output_tokens=1_000_000, rows=1)),
    ]
    summary, cost = priced(UsageSummary(parts=parts), "openai", shipped_table())
    assert [part.cost.amount for part in summary.parts if part.cost] == [0.075, 0.3]
    assert cost.amount == pytest.approx(0.375)
    assert cost.price is not None and cost.price.model == "gpt-4o-mini"


def test_the_total_of_a_thousand_parts_is_their_exact_sum_rounded_once() -> None:
    parts = [
        PartUsage(job_name=f"p{i}", model="gemini-2.5-flash", from_rows=TokenUsage(input_tokens=3, output_tokens=i))
        for i in range(1000)
    ]

    summary, cost = priced(UsageSummary(parts=parts), "gemini", shipped_table())

    exact = sum(Decimal(3) * Decimal("0.15") + Decimal(i) * Decimal("1.25") for i in range(1000)) / 1_000_000
    assert Decimal(str(cost.amount)) == exact.quantize(Decimal("0.000001"))
    assert summary.parts[0].cost is not None and summary.parts[0].cost.amount == 0.0


def test_a_note_the_parts_share_is_said_once_in_the_total_over_all_their_tokens() -> None:
    cached = TokenUsage(input_tokens=1000, cached_tokens=512, output_tokens=10, rows=1)
    parts = [PartUsage(job_name=f"batch_{i}", model="gpt-4o-mini", from_rows=cached) for i in range(1000)]

    summary, cost = priced(UsageSummary(parts=parts), "openai", shipped_table())

    assert cost.notes == ["1000 parts: 512000 cached input tokens priced at the input rate (no cached price)"]
    assert {tuple(part.cost.notes) for part in summary.parts if part.cost} == {
        ("512 cached input tokens priced at the input rate (no cached price)",)
    }


def test_a_total_note_names_the_one_part_it_concerns_or_counts_the_parts() -> None:
    parts = [
        PartUsage(job_name="a", model="gpt-4o-mini", from_rows=TokenUsage(input_tokens=10, cached_tokens=4)),
        PartUsage(job_name="b", model="gpt-4o-mini", from_rows=TokenUsage(input_tokens=10)),
        PartUsage(job_name="c", model="gpt-4o-mini", from_rows=TokenUsage(input_tokens=10, cache_write_tokens=3)),
        PartUsage(job_name="d", model="gpt-4o-mini", from_rows=TokenUsage(input_tokens=10, cached_tokens=5)),
        PartUsage(job_name="e"),
    ]

    _, cost = priced(UsageSummary(parts=parts), "openai", shipped_table())

    assert cost.notes == [
        "e: no tokens were used and no row names a model: nothing was billed",
        "2 parts: 9 cached input tokens priced at the input rate (no cached price)",
        "c: 3 cache-write tokens priced at the input rate (no cache-write price)",
    ]


def test_one_unpriced_part_leaves_the_total_without_an_amount_naming_that_part() -> None:
    parts = [
        PartUsage(job_name="a", model="gpt-4o-mini", from_rows=TokenUsage(input_tokens=10)),
        PartUsage(job_name="b", model="gpt-9", from_rows=TokenUsage(input_tokens=10)),
    ]
    summary, cost = priced(UsageSummary(parts=parts), "openai", shipped_table())
    assert cost.amount is None
    assert cost.reason is not None and cost.reason.startswith("b: no batch price for openai model 'gpt-9'")
    assert total_cost(summary.parts) == cost


def test_the_manifest_cost_is_json_safe() -> None:
    _, cost = priced(
        UsageSummary(parts=[PartUsage(job_name="a", model="gemini-2.5-flash", from_rows=TokenUsage(input_tokens=7))]),
        "gemini",
        shipped_table(),
    )
    dumped = cost.model_dump(mode="json")
    assert dumped["price"]["taken_on"] == "2026-12-01"
    assert dumped["amount"] == pytest.approx(7 * 0.15 / 1_000_000, abs=1e-6)
