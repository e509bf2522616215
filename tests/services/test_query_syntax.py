"""The search language's parser alone (no database): what it reads, and where and why it
refuses what it cannot, hostile texts included."""

from __future__ import annotations

import pytest

from sagas.services.saga_query import looks_like_query, parse
from sagas.services.saga_query.syntax import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_TERMS,
    Both,
    Comparison,
    Either,
    Not,
    QuerySyntaxError,
)


def test_the_issue_example_reads_as_one_and_of_seven_comparisons():
    node = parse(
        'type = order AND input.country = "AQ" AND input.amount > 1000 AND status IN '
        '(failed, compensated) AND step = charge_payment AND error ~ "declined" AND started > -24h'
    )
    assert isinstance(node, Both)
    fields = [(t.field, t.op, [v.text for v in t.values]) for t in node.terms]
    assert fields == [
        ("type", "=", ["order"]),
        ("input.country", "=", ["AQ"]),
        ("input.amount", ">", ["1000"]),
        ("status", "IN", ["failed", "compensated"]),
        ("step", "=", ["charge_payment"]),
        ("error", "~", ["declined"]),
        ("started", ">", ["-24h"]),
    ]
    assert [v.kind for t in node.terms for v in t.values][1:3] == ["string", "number"]


def test_and_binds_tighter_than_or_and_brackets_and_not_group():
    node = parse("a = 1 OR b = 2 AND c = 3")
    assert isinstance(node, Either) and isinstance(node.terms[1], Both)
    node = parse("NOT (a = 1 or b = 2) and c != 'x y'")
    assert isinstance(node, Both)
    assert isinstance(node.terms[0], Not) and isinstance(node.terms[0].term, Either)
    last = node.terms[1]
    assert (last.field, last.op, last.values[0].text, last.position) == ("c", "!=", "x y", 26)
    negated = parse("status not in (failed, running)")
    assert isinstance(negated, Not) and negated.term.op == "IN"
    assert [v.text for v in negated.term.values] == ["failed", "running"]


def test_operators_need_no_spaces_and_strings_take_escapes():
    node = parse("input.amount>=10.5")
    assert (node.op, node.values[0].text, node.values[0].kind) == (">=", "10.5", "number")
    node = parse(r'input.note = "say \"hi\" \\ "')
    assert node.values[0].text == 'say "hi" \\ '
    assert parse("finished<2026-11-29T10:00:00+01:00").values[0].text == (
        "2026-11-29T10:00:00+01:00"
    )


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("status >", 9, "expected a value after '>', not the end of the query"),
        ("input.country = ", 17, "expected a value after '='"),
        ("type order", 6, "expected an operator (= != > >= < <= ~ IN) after 'type', not 'order'"),
        ("status = failed AND", 20, "expected a field"),
        ("status = failed OR OR", 20, "expected a field (status, input.country...), not 'OR'"),
        ("(status = failed", 17, "expected ')' to close the '(' at 1"),
        ("status = failed)", 16, "expected AND or OR, not ')'"),
        ("status = failed type = x", 17, "expected AND or OR, not 'type'"),
        ('type = "order', 8, 'this string has no closing "'),
        ("type ! order", 6, "expected '!='"),
        ("status IN failed", 11, "expected '(' after IN"),
        ("status IN (failed compensated)", 19, "expected ',' or ')' in the IN list"),
        ("status NOT = x", 12, "expected IN after NOT"),
        ("= 3", 1, "expected a field"),
        ("   ", 1, "the query is empty"),
        ("1abc = 3", 1, "expected a field"),
    ],
)
def test_a_bad_query_says_where_and_what_was_expected(text, position, words):
    with pytest.raises(QuerySyntaxError) as caught:
        parse(text)
    assert caught.value.position == position
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"at {position}: ")
    assert caught.value.field == "query"  # an InvalidQuery, as the API and pages expect


@pytest.mark.parametrize(
    "text",
    [
        "type = 'x'; DROP TABLE sagas_sagainstance; --'",
        "type = x' OR '1'='1",
        "input.a = 1) OR (1 = 1",
        "input.\"a') = 1",
    ],
)
def test_injection_attempts_are_values_or_syntax_errors_never_sql(text):
    try:
        node = parse(text)
    except QuerySyntaxError:
        return
    # What parses holds the attacker's text only as values, compared as data.
    leaves = [node] if isinstance(node, Comparison) else list(getattr(node, "terms", []))
    assert all(isinstance(leaf, (Comparison, Not, Both, Either)) for leaf in leaves)


def test_deep_nesting_is_refused_before_any_recursion_limit():
    for text in ["(" * 100_000 + "a = 1" + ")" * 100_000, "NOT " * 50_000 + "a = 1"]:
        with pytest.raises(QuerySyntaxError, match="longer than|nested more than"):
            parse(text)
    deep = "(" * (MAX_DEPTH + 1) + "a = 1" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(QuerySyntaxError) as caught:
        parse(deep)
    assert caught.value.position == MAX_DEPTH + 1
    assert "nested more than" in str(caught.value)
    parse("(" * MAX_DEPTH + "a = 1" + ")" * MAX_DEPTH)  # at the bound: fine


def test_huge_literals_long_queries_and_too_many_terms_are_refused():
    with pytest.raises(QuerySyntaxError, match="longer than 200 characters"):
        parse(f'input.note = "{"x" * 201}"')
    with pytest.raises(QuerySyntaxError, match="longer than 200 characters"):
        parse(f"input.note = {'x' * 201}")
    with pytest.raises(QuerySyntaxError, match=f"longer than {MAX_LENGTH}"):
        parse("a = 1 AND " * 200 + "a = 1")
    with pytest.raises(QuerySyntaxError, match=f"more than {MAX_TERMS} terms") as caught:
        parse(" OR ".join(f"a = {n}" for n in range(MAX_TERMS + 1)))
    assert caught.value.position == len(" OR ".join(f"a = {n}" for n in range(MAX_TERMS))) + 5
    with pytest.raises(QuerySyntaxError, match="at most 50 values"):
        parse("type IN (" + ", ".join(str(n) for n in range(51)) + ")")
    with pytest.raises(QuerySyntaxError, match="more than 8 parts"):
        parse("input." + ".".join("a" * 8) + " = 1")


def test_text_no_database_could_compare_is_refused():
    for text in ["type = a\x00b", "type = \ud800"]:
        with pytest.raises(QuerySyntaxError, match="NUL or a lone surrogate"):
            parse(text)


def test_a_query_is_told_from_a_plain_term_by_its_operator():
    for plain in ["ord-000123", "f2b6417b", "aq test", "Ingrid's order"]:
        assert not looks_like_query(plain)
    for query in ["status=failed", "input.amount > 3", "error ~ x", "status in (failed)"]:
        assert looks_like_query(query)
