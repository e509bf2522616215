"""The search language's text: a tokenizer and a recursive-descent parser that turn a query
into a small tree (no database, no Django). Every error names the 1-based character
position where it went wrong and what was expected there.

    query      := or
    or         := and ("OR" and)*
    and        := not ("AND" not)*
    not        := "NOT" not | "(" or ")" | comparison
    comparison := FIELD OP value | FIELD ["NOT"] "IN" "(" value ("," value)* ")"
    OP         := "=" | "!=" | ">" | ">=" | "<" | "<=" | "~"
    value      := "quoted string" | 'quoted string' | number | word

Keywords are case-insensitive. A word is any run of characters without spaces, quotes,
brackets, commas or operator characters: `failed`, `-24h`, `2026-11-29T10:00Z`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from sagas.exceptions import InvalidQuery

# Bounds on what one query may ask, so no text can exhaust the parser or the database.
MAX_LENGTH = 1_000  # characters of the whole query
MAX_LITERAL = 200  # characters of one value (as long as a correlation id)
MAX_DEPTH = 8  # nested brackets and NOTs
MAX_TERMS = 20  # comparisons
MAX_VALUES = 50  # values in one IN (...)
MAX_PATH = 8  # segments of input.a.b.c

OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "~")
KEYWORDS = ("AND", "OR", "NOT", "IN")
# Characters a word cannot hold: they start another token.
_BREAK = set(" \t\r\n()\"',=!<>~")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*")


class QuerySyntaxError(InvalidQuery):
    """The query is not one the search language reads (or asks what it cannot)."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"at {position}: {message}", "query")
        self.position = position
        self.reason = message


@dataclass(frozen=True)
class Token:
    kind: str  # "op", "(", ")", ",", "string" (quoted), "word", "number", "keyword", "end"
    text: str  # the operator, keyword (upper case) or value as written (unquoted)
    position: int  # 1-based


@dataclass(frozen=True)
class Value:
    kind: str  # "string" (quoted), "word" (bare) or "number"
    text: str
    position: int

    @property
    def shown(self) -> str:
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return f'"{text}"' if self.kind == "string" else f"'{text}'"


@dataclass(frozen=True)
class Comparison:
    field: str  # as written: "status", "input.country", "result.charge_payment.id"
    op: str  # one of OPERATORS, or "IN"
    values: tuple[Value, ...]  # one, or the IN list
    position: int  # of the field


@dataclass(frozen=True)
class Not:
    term: Node
    position: int


@dataclass(frozen=True)
class Both:
    """AND."""

    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Either:
    """OR."""

    terms: tuple[Node, ...]


Node = Union[Comparison, Not, Both, Either]  # noqa: UP007 (a runtime alias)


def looks_like_query(text: str) -> bool:
    """Whether the search box holds a query rather than a plain id or correlation id: it has
    an operator character. Plain terms (ids, correlation ids) never do."""
    return any(ch in text for ch in "=<>~") or bool(re.search(r"\s(?i:in)\s*\(", text))


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise QuerySyntaxError(MAX_LENGTH + 1, f"the query is longer than {MAX_LENGTH} characters")
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        at = i + 1
        if ch in "(),":
            tokens.append(Token(ch, ch, at))
            i += 1
        elif ch in "=!<>~":
            two = text[i : i + 2]
            if two in ("!=", ">=", "<="):
                tokens.append(Token("op", two, at))
                i += 2
            elif ch == "!":
                raise QuerySyntaxError(at, "expected '!=' ('!' alone is not an operator)")
            else:
                tokens.append(Token("op", ch, at))
                i += 1
        elif ch in "\"'":
            value, i = _quoted(text, i)
            tokens.append(Token("string", value, at))
        else:
            start = i
            while i < n and text[i] not in _BREAK and not text[i].isspace():
                i += 1
            word = text[start:i]
            if len(word) > MAX_LITERAL:
                raise QuerySyntaxError(at, f"a value is longer than {MAX_LITERAL} characters")
            if word.upper() in KEYWORDS:
                tokens.append(Token("keyword", word.upper(), at))
            elif _NUMBER.fullmatch(word):
                tokens.append(Token("number", word, at))
            else:
                tokens.append(Token("word", word, at))
    tokens.append(Token("end", "", n + 1))
    return tokens


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The string quoted at text[i] (backslash escapes the quote and itself) and the index
    after its closing quote."""
    quote, start, out = text[i], i + 1, []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            if len(out) > MAX_LITERAL:
                raise QuerySyntaxError(start, f"a value is longer than {MAX_LITERAL} characters")
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise QuerySyntaxError(start, f"this string has no closing {quote}")


def parse(text: str) -> Node:
    """The tree of a query; QuerySyntaxError (with the position) for one it cannot read."""
    if len(text) > MAX_LENGTH:
        raise QuerySyntaxError(MAX_LENGTH + 1, f"the query is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise QuerySyntaxError(1, "the query is empty")
    for i, ch in enumerate(text):
        if ch == "\x00" or "\ud800" <= ch <= "\udfff":
            raise QuerySyntaxError(i + 1, "the query holds a NUL or a lone surrogate")
    return _Parser(tokenize(text)).query()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.terms = 0

    @property
    def next(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def is_keyword(self, word: str) -> bool:
        return self.next.kind == "keyword" and self.next.text == word

    def query(self) -> Node:
        node = self.either()
        if self.next.kind != "end":
            raise QuerySyntaxError(
                self.next.position, f"expected AND or OR, not {_seen(self.next)}"
            )
        return node

    def either(self) -> Node:
        terms = [self.both()]
        while self.is_keyword("OR"):
            self.take()
            terms.append(self.both())
        return terms[0] if len(terms) == 1 else Either(tuple(terms))

    def both(self) -> Node:
        terms = [self.negation()]
        while self.is_keyword("AND"):
            self.take()
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else Both(tuple(terms))

    def negation(self) -> Node:
        token = self.next
        if token.kind == "keyword" and token.text == "NOT" or token.kind == "(":
            # Bounded before recursing: deep nesting is an error, never a RecursionError.
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QuerySyntaxError(
                    token.position, f"brackets and NOTs are nested more than {MAX_DEPTH} deep"
                )
            self.take()
            if token.kind == "(":
                node: Node = self.either()
                if self.next.kind != ")":
                    raise QuerySyntaxError(
                        self.next.position,
                        f"expected ')' to close the '(' at {token.position}, "
                        f"not {_seen(self.next)}",
                    )
                self.take()
            else:
                node = Not(self.negation(), token.position)
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        token = self.take()
        if token.kind != "word" or not _FIELD.fullmatch(token.text):
            raise QuerySyntaxError(
                token.position, f"expected a field (status, input.country...), not {_seen(token)}"
            )
        if token.text.count(".") >= MAX_PATH:
            raise QuerySyntaxError(token.position, f"a field has more than {MAX_PATH} parts")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QuerySyntaxError(token.position, f"the query has more than {MAX_TERMS} terms")
        negated = False
        if self.is_keyword("NOT"):
            negated = True
            self.take()
            if not self.is_keyword("IN"):
                raise QuerySyntaxError(self.next.position, "expected IN after NOT")
        if self.is_keyword("IN"):
            node = Comparison(token.text, "IN", self.in_list(), token.position)
            return Not(node, token.position) if negated else node  # type: ignore[return-value]
        op = self.take()
        if op.kind != "op":
            raise QuerySyntaxError(
                op.position,
                f"expected an operator (= != > >= < <= ~ IN) after '{token.text}', not {_seen(op)}",
            )
        return Comparison(token.text, op.text, (self.value(op.text),), token.position)

    def in_list(self) -> tuple[Value, ...]:
        self.take()  # IN
        if self.next.kind != "(":
            raise QuerySyntaxError(
                self.next.position, f"expected '(' after IN, not {_seen(self.next)}"
            )
        self.take()
        values = [self.value("IN (")]
        while self.next.kind == ",":
            self.take()
            values.append(self.value(","))
            if len(values) > MAX_VALUES:
                raise QuerySyntaxError(values[-1].position, f"IN takes at most {MAX_VALUES} values")
        if self.next.kind != ")":
            raise QuerySyntaxError(
                self.next.position, f"expected ',' or ')' in the IN list, not {_seen(self.next)}"
            )
        self.take()
        return tuple(values)

    def value(self, after: str) -> Value:
        token = self.take()
        if token.kind not in ("string", "word", "number"):
            raise QuerySyntaxError(
                token.position, f"expected a value after '{after}', not {_seen(token)}"
            )
        return Value(token.kind, token.text, token.position)


def _seen(token: Token) -> str:
    if token.kind == "end":
        return "the end of the query"
    if token.kind == "string":
        return "a quoted string"
    shown = token.text if len(token.text) <= 30 else token.text[:27] + "..."
    return f"'{shown}'"
