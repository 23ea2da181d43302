"""The bad-input corpus as a specification: per file, per target provider, rejected (where and why) or accepted.

Every file in ``corpus/`` is listed here at least once; a file that providers treat differently is listed
once per outcome. A rejected case names the line the error must point at (``None``: the input as a whole)
and a fragment of the reason (``{provider}`` is filled in). An accepted case names the request count and,
where it matters, the keys the results join will read back. ``bug`` marks a case the code gets wrong today:
it runs as ``xfail(strict=True)`` with that reason, so fixing the bug turns it into an error until the
marker is removed.

Big inputs (a 10 MB line, 50,001 / 100,001 requests, over-size files) are generated at test time; see
``test_corpus.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from airflow_provider_genai_batch.formats.keys import portable_id

CORPUS = Path(__file__).parent / "corpus"

GEMINI, OPENAI, ANTHROPIC = "gemini", "openai", "anthropic"
ALL = (GEMINI, OPENAI, ANTHROPIC)
TRANSLATED = (OPENAI, ANTHROPIC)  # providers that get canonical (Gemini-format) lines translated

MODELS = {GEMINI: "gemini-2.5-flash", OPENAI: "gpt-4o-mini", ANTHROPIC: "claude-sonnet-4-5"}
EMBEDDING_MODELS = {GEMINI: "gemini-embedding-001", OPENAI: "text-embedding-3-small", ANTHROPIC: "claude-sonnet-4-5"}


@dataclass(frozen=True)
class Case:
    """One expected outcome of one corpus file for some providers."""

    file: str
    providers: tuple[str, ...]
    accept: bool
    why: str
    line: int | None = None
    reason: str = ""
    count: int | None = None
    keys: tuple[str, ...] | None = None
    embeddings: bool = False
    bug: str | None = None

    def reason_for(self, provider: str) -> str:
        return self.reason.replace("{provider}", provider)


def reject(file: str, providers: tuple[str, ...], line: int | None, reason: str, why: str, **kw: object) -> Case:
    return Case(file, providers, False, why, line=line, reason=reason, **kw)  # type: ignore[arg-type]


def accept(file: str, providers: tuple[str, ...], count: int, why: str, **kw: object) -> Case:
    return Case(file, providers, True, why, count=count, **kw)  # type: ignore[arg-type]


NATIVE_ELSEWHERE = "{fmt} native format cannot be sent to {provider}"
LONG_KEY = "x" * 70

CASES: tuple[Case, ...] = (
    # --- bytes and JSON -------------------------------------------------------------------------------------
    reject("invalid_json.jsonl", ALL, 2, "invalid JSON", "a syntax error is reported on its own line"),
    reject("truncated_last_line.jsonl", ALL, 3, "invalid JSON", "a last line cut off mid-object (no newline) fails"),
    reject("non_utf8_bytes.jsonl", ALL, 2, "not valid UTF-8", "Latin-1 bytes are not silently replaced"),
    reject("nul_byte.jsonl", ALL, 2, "invalid JSON", "a raw NUL inside a string is not JSON"),
    reject("nul_padding.jsonl", ALL, 3, "invalid JSON", "NUL padding after the last line (a preallocated file) fails"),
    reject(
        "nan_literal.jsonl", ALL, 1, "invalid JSON: NaN is not JSON", "NaN is not JSON, though Python's json writes it"
    ),
    reject("trailing_comma.jsonl", ALL, 1, "invalid JSON", "a trailing comma is not JSON"),
    reject("python_dict_repr.jsonl", ALL, 1, "invalid JSON", "str(dict) output (single quotes) is not JSON"),
    reject(
        "pretty_printed.jsonl",
        ALL,
        1,
        "the file is JSON (an object spread over lines, as pretty-printing writes it), not JSONL",
        "a pretty-printed object spans lines: JSONL needs one a line, and the error says so, not 'truncated'",
    ),
    reject(
        "concatenated_objects.jsonl",
        ALL,
        1,
        "invalid JSON: a second JSON object starts at byte 128",
        "two objects on one line (a lost newline) fail, and the error says where the second starts",
    ),
    reject(
        "comma_after_each_object.jsonl",
        ALL,
        1,
        "invalid JSON: a comma follows the object (byte 93)",
        "the lines of a JSON array without its brackets fail, and the error names the comma",
    ),
    reject(
        "bom_on_second_line.jsonl",
        ALL,
        2,
        "a UTF-8 byte-order mark in the middle of the file",
        "a BOM is only skipped at the start of the file",
    ),
    reject("json_array_line.jsonl", ALL, 1, "must be a JSON object, got list", "a line wrapped in an array fails"),
    reject("json_string_line.jsonl", ALL, 2, "must be a JSON object, got str", "a bare prompt string is not a request"),
    reject("json_null_line.jsonl", ALL, 2, "must be a JSON object", "a null line is not a request"),
    reject(
        "too_deeply_nested.jsonl",
        ALL,
        2,
        "nest",
        "JSON nested deeper than the parser can go is a bad line, not a crash",
    ),
    # --- empty inputs ---------------------------------------------------------------------------------------
    reject("empty.jsonl", ALL, None, "input is empty", "an empty file is not an empty batch"),
    reject("only_blank_lines.jsonl", ALL, None, "input is empty", "blank and whitespace-only lines are skipped"),
    reject(
        "form_feed_line.jsonl",
        ALL,
        2,
        "invalid JSON: a form feed",
        "a line of a form feed (a page break) is not blank to a JSON parser: a file sent as it is would reach the "
        "provider with a line that is not JSON",
    ),
    # --- line endings and encodings that are fine -----------------------------------------------------------
    accept("crlf_line_endings.jsonl", ALL, 3, "CRLF line endings are valid", keys=("a", "b", "c")),
    accept("utf8_bom.jsonl", ALL, 2, "a UTF-8 BOM at the start of the file is skipped", keys=("a", "b")),
    accept(
        "cr_only_line_endings.jsonl",
        ALL,
        3,
        "CR-only line endings (old Mac files) are lines, not 'trailing characters'",
        keys=("a", "b", "c"),
    ),
    accept(
        "mixed_line_endings.jsonl",
        ALL,
        4,
        "CRLF, LF and a lone CR in one file, and a last line with no ending at all",
        keys=("a", "b", "c", "d"),
    ),
    reject(
        "cr_only_blank_lines_then_error.jsonl",
        ALL,
        4,
        "unrecognised line",
        "blank CR-only lines are skipped but counted: the error is on physical line 4",
    ),
    reject("utf16_le_bom.jsonl", ALL, 1, "not UTF-8: the input is UTF-16", "Windows 'Unicode' text is not UTF-8"),
    reject("utf16_be_bom.jsonl", ALL, 1, "not UTF-8: the input is UTF-16", "big-endian UTF-16 is not UTF-8 either"),
    reject("utf32_bom.jsonl", ALL, 1, "not UTF-8: the input is UTF-32", "UTF-32 is named, not mistaken for UTF-16"),
    # --- compression ----------------------------------------------------------------------------------------
    accept("gzip_compressed.jsonl.gz", ALL, 2, "gzip is read as it streams", keys=("a", "b")),
    accept(
        "gzip_without_gz_suffix.jsonl",
        ALL,
        2,
        "gzip is recognised by its magic bytes, not by the file name",
        keys=("a", "b"),
    ),
    reject(
        "gzip_truncated.jsonl.gz",
        ALL,
        1,
        "the compressed input is corrupt or cut short",
        "a gzip file cut off mid-stream is refused, not read as far as it goes",
    ),
    reject(
        "bzip2_compressed.jsonl.bz2",
        ALL,
        None,
        "input is bzip2-compressed: only gzip is read as it is",
        "another compression is named instead of failing as 'not valid UTF-8 (byte 0)'",
    ),
    # --- duplicate object members -------------------------------------------------------------------------
    reject(
        "duplicate_field_key.jsonl",
        ALL,
        2,
        "duplicate field 'key': JSON keeps only one of its values",
        "two keys on one line: a parser keeps the last, so the first would vanish without a word",
    ),
    reject(
        "duplicate_generation_config.jsonl",
        ALL,
        1,
        "duplicate field 'request.generationConfig'",
        "two generationConfig objects: one set of settings would be dropped silently",
    ),
    reject(
        "duplicate_nested_text.jsonl",
        ALL,
        1,
        "duplicate field 'request.contents[0].parts[0].text'",
        "a repeat deep inside a list of parts is found and its path named",
    ),
    reject(
        "duplicate_field_escaped_name.jsonl",
        ALL,
        2,
        "duplicate field 'key'",
        'a repeat spelt differently ("k\\u0065y") is the same member once decoded',
    ),
    reject(
        "duplicate_metadata_field.jsonl",
        ALL,
        1,
        "duplicate field 'metadata.team'",
        "metadata is the user's too: a repeated field there is not dropped either",
    ),
    reject(
        "duplicate_field_in_native_openai.jsonl",
        ALL,
        1,
        "duplicate field 'body.model'",
        "native lines are checked too: which model a line targets is not left to the parser",
    ),
    accept(
        "same_field_names_in_sibling_objects.jsonl",
        ALL,
        2,
        "role, parts and text repeat across the turns of a conversation: sibling objects, not duplicates",
        keys=("a", "b"),
    ),
    accept(
        "colons_and_escapes_in_text.jsonl",
        ALL,
        2,
        "colons inside strings, an escaped colon, \\u escapes and escaped quotes are no duplicates",
        keys=("a", "b"),
    ),
    # --- keys -----------------------------------------------------------------------------------------------
    reject("missing_key.jsonl", ALL, 2, "missing key field 'key'", "every line needs a key for the join"),
    reject("empty_key.jsonl", ALL, 2, "'key' must be a non-empty string", "an empty key cannot be joined on"),
    reject("non_string_key.jsonl", ALL, 2, "'key' must be a non-empty string", "a number is not a key"),
    reject("null_key.jsonl", ALL, 2, "'key' must be a non-empty string", "null is not a key"),
    reject(
        "duplicate_key.jsonl", ALL, 4, "duplicate key 'b' (first used on line 2)", "a duplicate names the first use"
    ),
    accept(
        "long_keys.jsonl",
        ALL,
        3,
        "keys over 64 characters or with spaces are fine: OpenAI and Anthropic get a portable id, mapped back",
        keys=("k" * 65, "customer-" + "0123456789" * 20, "order 17 / item 3"),
    ),
    accept("unicode_keys.jsonl", ALL, 3, "non-ASCII keys are valid", keys=("日本語-1", "clé-é", "emoji-🎉")),
    accept(
        "key_with_line_break.jsonl",
        ALL,
        2,
        "a key with a line break (legal JSON) must survive the keys file the results join reads back",
        keys=("first line\nsecond line", "ends-with-cr\r"),
    ),
    accept("key_collides_after_mapping.jsonl", (GEMINI,), 2, "Gemini carries every key as it is"),
    reject(
        "key_collides_after_mapping.jsonl",
        TRANSLATED,
        2,
        "duplicate",
        f"a key equal to another key's portable id ({portable_id(LONG_KEY)}) would reach the provider twice",
    ),
    # --- the canonical Gemini line --------------------------------------------------------------------------
    reject("unknown_top_level_field.jsonl", ALL, 2, "unknown field(s) priority", "only key, request, metadata"),
    reject("request_not_object.jsonl", ALL, 2, "'request' must be a JSON object", "a prompt string is not a request"),
    reject("empty_contents.jsonl", ALL, 2, "needs 'contents' (a non-empty list)", "an empty conversation fails"),
    reject(
        "contents_is_string.jsonl", ALL, 1, "needs 'contents' (a non-empty list)", "SDK shorthand is not REST JSONL"
    ),
    reject("sdk_config_in_jsonl.jsonl", ALL, 1, "not an SDK-style 'config'", "JSONL lines use generationConfig"),
    reject(
        "blank_lines_then_error.jsonl",
        ALL,
        4,
        "unrecognised line",
        "line numbers count blank lines: the error is on physical line 4",
    ),
    accept("deeply_nested_valid.jsonl", ALL, 2, "100-level function args and a 30-level schema are valid"),
    # --- embeddings -----------------------------------------------------------------------------------------
    accept("embeddings_valid.jsonl", (GEMINI, OPENAI), 2, "EmbedContentRequest lines", embeddings=True),
    reject(
        "embeddings_valid.jsonl",
        (ANTHROPIC,),
        None,
        "anthropic has no embeddings batch API",
        "an embeddings batch at a provider without one fails before the first line",
        embeddings=True,
    ),
    reject(
        "embeddings_without_content.jsonl",
        (GEMINI, OPENAI),
        2,
        "an embeddings request needs 'content'",
        "a generation request in an embeddings batch fails on its line",
        embeddings=True,
    ),
    reject(
        "embeddings_without_content.jsonl",
        (ANTHROPIC,),
        None,
        "anthropic has no embeddings batch API",
        "Anthropic refuses embeddings before reading a line",
        embeddings=True,
    ),
    # --- what only Gemini can express -----------------------------------------------------------------------
    accept("gemini_only_tools.jsonl", (GEMINI,), 1, "googleSearch is a Gemini tool"),
    reject(
        "gemini_only_tools.jsonl",
        TRANSLATED,
        1,
        "googleSearch is a Gemini-only tool and cannot be sent to {provider}",
        "a Gemini-only tool is never dropped silently",
    ),
    accept("thinking_config.jsonl", (GEMINI,), 1, "thinkingConfig is a Gemini setting"),
    reject(
        "thinking_config.jsonl",
        TRANSLATED,
        1,
        "generationConfig.thinkingConfig cannot be sent to {provider}",
        "Gemini thinking settings do not map",
    ),
    accept("safety_settings.jsonl", (GEMINI,), 1, "safetySettings is a Gemini setting"),
    reject(
        "safety_settings.jsonl", TRANSLATED, 1, "safety settings are Gemini-only", "safety settings are not dropped"
    ),
    reject(
        "request_model_mismatch.jsonl",
        TRANSLATED,
        1,
        "differs from the batch model",
        "a per-line model other than the batch model is refused where every line goes to the batch model",
    ),
    # --- native formats -------------------------------------------------------------------------------------
    accept("openai_native.jsonl", (OPENAI,), 2, "OpenAI lines go to OpenAI untouched", keys=("req-1", "req-2")),
    reject(
        "openai_native.jsonl",
        (GEMINI, ANTHROPIC),
        1,
        NATIVE_ELSEWHERE.replace("{fmt}", "openai"),
        "OpenAI lines are not sent to another provider",
    ),
    accept(
        "openai_native_long_custom_id.jsonl",
        (OPENAI,),
        2,
        "OpenAI takes any custom_id string; a native one is passed through as it is",
    ),
    reject("openai_native_wrong_method.jsonl", (OPENAI,), 1, "'method' must be \"POST\"", "batch lines are POSTs"),
    reject(
        "openai_native_model_mismatch.jsonl",
        (OPENAI,),
        2,
        "body.model 'gpt-4.1' differs from the batch model",
        "every native line must name the batch model",
    ),
    reject(
        "openai_native_two_endpoints.jsonl",
        (OPENAI,),
        2,
        "every line must target one endpoint",
        "an OpenAI batch has one endpoint",
    ),
    accept(
        "openai_native_gzip.jsonl.gz",
        (OPENAI,),
        2,
        "a gzipped native file is decompressed, then uploaded (never uploaded compressed)",
        keys=("req-1", "req-2"),
    ),
    reject(
        "openai_native_gzip.jsonl.gz",
        (GEMINI, ANTHROPIC),
        1,
        NATIVE_ELSEWHERE.replace("{fmt}", "openai"),
        "decompressed first, then judged like any native file",
    ),
    accept(
        "openai_native_cr_only.jsonl",
        (OPENAI,),
        2,
        "a native file with CR-only endings goes up as it is, its lone CRs sent as LF",
        keys=("req-1", "req-2"),
    ),
    reject(
        "openai_native_cr_only.jsonl",
        (GEMINI, ANTHROPIC),
        1,
        NATIVE_ELSEWHERE.replace("{fmt}", "openai"),
        "CR-only native lines are still OpenAI lines",
    ),
    accept("anthropic_native.jsonl", (ANTHROPIC,), 2, "Anthropic lines go inline untouched", keys=("req-1", "req-2")),
    reject(
        "anthropic_native.jsonl",
        (GEMINI, OPENAI),
        1,
        NATIVE_ELSEWHERE.replace("{fmt}", "anthropic"),
        "Anthropic lines are not sent to another provider",
    ),
    reject(
        "anthropic_native_missing_max_tokens.jsonl",
        (ANTHROPIC,),
        1,
        "'params.max_tokens' must be a positive integer",
        "max_tokens is required by the Messages API",
    ),
    reject(
        "anthropic_native_bad_custom_id.jsonl",
        (ANTHROPIC,),
        1,
        "custom_id",
        "Anthropic rejects the whole batch for a custom_id outside ^[a-zA-Z0-9_-]{1,64}$: say which line first",
    ),
    reject(
        "anthropic_native_bad_custom_id.jsonl",
        (GEMINI, OPENAI),
        1,
        NATIVE_ELSEWHERE.replace("{fmt}", "anthropic"),
        "Anthropic lines are not sent to another provider",
    ),
    reject(
        "bedrock_native.jsonl",
        ALL,
        1,
        NATIVE_ELSEWHERE.replace("{fmt}", "bedrock"),
        "Bedrock records are not sent to Gemini, OpenAI or Anthropic",
    ),
    reject(
        "mixed_formats.jsonl",
        ALL,
        2,
        "line is in openai format but the input started in gemini format",
        "one input, one format: the first line decides",
    ),
    reject(
        "mixed_native_formats.jsonl",
        (OPENAI,),
        2,
        "line is in anthropic format but the input started in openai format",
        "two native formats in one file",
    ),
    reject(
        "mixed_native_formats.jsonl",
        (GEMINI, ANTHROPIC),
        1,
        NATIVE_ELSEWHERE.replace("{fmt}", "openai"),
        "the first line's format is already wrong here",
    ),
)


def corpus_files() -> list[str]:
    return sorted(path.name for path in CORPUS.iterdir() if path.is_file())
