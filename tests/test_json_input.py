"""The shared JSON reader: any bytes give data or a JSONInputError naming the place, never another error."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import json_input
from config.json_input import JSONInputError, too_deep

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=30,
)


def depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def nest(value, levels: int, kind: str):
    for _ in range(levels):
        value = [value] if kind == "list" else {'k\\"[{': value}
    return value


@settings(max_examples=300, deadline=None)
@given(value=json_values, extra=st.integers(min_value=0, max_value=80), kind=st.sampled_from(["list", "dict"]))
def test_too_deep_agrees_with_the_parsed_depth(value, extra, kind):
    value = nest(value, extra, kind)
    text = json.dumps(value, ensure_ascii=False)
    for limit in (1, 3, 64):
        assert too_deep(text, limit) == (depth(value) > limit)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_give_data_or_a_named_error(body):
    try:
        json_input.loads(body)
    except JSONInputError as exc:
        assert exc.errors and str(exc)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        "[" * 500 + '"' + "]" * 500,
        '"' + '\\"[' * 10_000,
        "[{" * 5_000 + "}]" * 5_000,
        "[" * 70 + "}" * 70,
    ],
)
def test_nesting_no_parser_should_attempt_is_refused_before_parsing(text):
    with pytest.raises(JSONInputError) as refused:
        json_input.loads(text)
    assert list(refused.value.errors) == ["body"]


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"text": "[" * 10_000, "escaped": '\\"[[[' * 100})
    assert json_input.loads(text)["text"] == "[" * 10_000


@pytest.mark.parametrize(
    "text, where, reason",
    [
        ('{"a": [1, ' + "9" * 5000 + "]}", "a[1]", "5,000 digits"),
        ('{"a": {"b": NaN}}', "a.b", "NaN"),
        ('{"a": -Infinity}', "a", "-Infinity"),
        ('{"a": 1e400}', "a", "out of range"),
        ('{"a": ["x\\u0000"]}', "a[0]", "NUL"),
        ('{"a\\ud800": 1}', "body", "A name contains a lone UTF-16 surrogate"),
    ],
)
def test_values_that_cannot_be_kept_are_named_by_path(text, where, reason):
    with pytest.raises(JSONInputError) as refused:
        json_input.loads(text)
    [(path, message)] = list(json_input.flatten(refused.value.errors))
    assert path == where and reason in message


def test_long_numbers_in_strings_and_ordinary_numbers_are_read():
    assert json_input.loads('{"id": "' + "9" * 500 + '", "n": -12, "x": 1.5e3}') == {
        "id": "9" * 500,
        "n": -12,
        "x": 1500.0,
    }
