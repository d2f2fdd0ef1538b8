"""The filter grammar (RFC 7644 §3.4.2.2): text to scim2-filter-parser's AST, with its sly lexer and grammar fixed
here (JSON strings and numbers, `and` binding tighter than `or`, keyword prefixes) and every failure an
InvalidFilter that says where."""

from __future__ import annotations

import json
from typing import Any

from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser
from sly import Parser

from scim.errors import InvalidFilter

MAX_FILTER_LENGTH = 4096
MAX_NESTING = 16  # parentheses and brackets; real IdP filters use two or three levels


class _SyntaxError(Exception):
    """Raised by the parser with the offending token (None at the end of input)."""

    def __init__(self, token: Any) -> None:
        super().__init__(token)
        self.token = token


class JsonLexer(SCIMLexer):
    """SCIMLexer with JSON string and number literals and whole-word `true`/`false`/`null`."""

    tokens = SCIMLexer.tokens

    # Without the lookahead `trueValue` lexes as TRUE followed by ATTRNAME "Value".
    @_(r"(?i:false)(?![A-Za-z0-9_$-])")  # noqa: F821
    def FALSE(self, t):
        t.value = False
        return t

    @_(r"(?i:true)(?![A-Za-z0-9_$-])")  # noqa: F821
    def TRUE(self, t):
        t.value = True
        return t

    @_(r"(?i:null)(?![A-Za-z0-9_$-])")  # noqa: F821
    def NULL(self, t):
        t.value = None
        return t

    @_(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")  # noqa: F821
    def NUMBER(self, t):
        t.value = json.loads(t.value)
        return t

    @_(r'"(?:[^"\\]|\\.)*"')  # noqa: F821
    def COMP_VALUE(self, t):
        try:
            t.value = json.loads(t.value)
        except ValueError:
            raise InvalidFilter(f"The string at position {t.index} is not a valid JSON string.") from None
        return t

    def error(self, t):
        raise InvalidFilter(f"Unexpected character {t.value[0]!r} at position {self.index} of the filter.")


def _raise_syntax_error(self: Parser, token: Any) -> None:
    raise _SyntaxError(token)


# Subclassing SCIMParser fails in sly 0.5 ("No grammar rules are defined"), so the grammar is rebuilt from its
# rule functions with the RFC's precedence: not, then and, then or (the library groups and/or on one level).
_FilterParser = type(SCIMParser)(
    "_FilterParser",
    (Parser,),
    {
        "_": None,
        "tokens": JsonLexer.tokens,
        "start": "filter",
        "track_positions": False,
        "precedence": (("left", "OR"), ("left", "AND"), ("right", "NOT")),
        "error": _raise_syntax_error,
        **{name: rule for name, rule in vars(SCIMParser).items() if hasattr(rule, "rules")},
    },
)


def parse_text(text: str) -> ast.Filter:
    """Tokenise and parse, turning every failure into InvalidFilter."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidFilter("The filter is empty.")
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilter(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    try:
        tokens = list(JsonLexer().tokenize(text))
        depth = 0
        for token in tokens:
            depth += {"LPAREN": 1, "LBRACKET": 1, "RPAREN": -1, "RBRACKET": -1}.get(token.type, 0)
            if depth > MAX_NESTING:
                raise InvalidFilter(f"The filter nests parentheses or brackets deeper than {MAX_NESTING} levels.")
        return _FilterParser().parse(iter(tokens))
    except InvalidFilter:
        raise
    except _SyntaxError as exc:
        raise InvalidFilter(_syntax_detail(text, tokens, exc.token)) from None
    except Exception as exc:  # the library's grammar actions and json.loads reject bad input in their own ways
        raise InvalidFilter(f"The filter could not be parsed: {exc}") from None


_OPERATOR_TOKENS = frozenset({"EQ", "NE", "CO", "SW", "EW", "GT", "GE", "LT", "LE"})


def _syntax_detail(text: str, tokens: list[Any], token: Any) -> str:
    if token is None:
        return "The filter ends unexpectedly."
    position = next(index for index, candidate in enumerate(tokens) if candidate is token)
    before = tokens[position - 1].type if position else None
    if token.type == "ATTRNAME" and before in ("ATTRNAME", "SUBATTR"):
        return f"The operator '{token.value}' is not supported (RFC 7644 §3.4.2.2)."
    if before in _OPERATOR_TOKENS:
        return (
            f"Expected a value after '{tokens[position - 1].value}' at position {token.index}: "
            "a quoted string, a number, true, false or null."
        )
    return f"Unexpected {text[token.index : token.end]!r} at position {token.index} of the filter."
