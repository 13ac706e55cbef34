"""GitHub Actions' `${{ }}` expressions, as far as the project's workflows use them, for the
workflow harness (testbed/workflows.py): literals, contexts and their properties, `!`, `==`,
`!=`, `<`, `<=`, `>`, `>=`, `&&`, `||` (which give an operand, not a boolean) and the functions
in FUNCTIONS. Anything else (an unknown function, context, operator, a secret or variable the
test did not give) raises UnknownExpression naming it: a workflow cannot use what no test runs.

No library evaluates these in Python; the grammar is small and GitHub documents it
(docs.github.com, "Evaluate expressions in workflows and actions")."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

TOKEN = re.compile(
    r"\s*(?:(?P<number>-?\d+(?:\.\d+)?)|(?P<string>'(?:[^']|'')*')"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[!<>()\[\].,])|(?P<name>[A-Za-z_][A-Za-z0-9_-]*\*?))"
)
# Contexts whose missing keys are a mistake in the test or the workflow, not null.
STRICT = ("secrets", "vars")


class UnknownExpression(ValueError):
    """The expression uses something the harness does not know."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokens(source: str) -> list[Token]:
    found, at = [], 0
    while at < len(source.rstrip()):
        match = TOKEN.match(source, at)
        if not match or match.end() == at:
            raise UnknownExpression(f"${{{{ {source} }}}}: cannot read {source[at:]!r}")
        kind = match.lastgroup or ""
        found.append(Token(kind, match[kind]))
        at = match.end()
    return found


def check(source: str, contexts: Mapping[str, Any], functions: set[str]) -> None:
    """Refuses (UnknownExpression) an expression that uses an unknown function or context, or
    a secret or variable not given, without evaluating it: for the steps of a job that a
    run skips."""
    found = tokens(source)
    for at, token in enumerate(found):
        after_dot = at > 0 and found[at - 1].text == "."
        if token.kind != "name" or after_dot or token.text in ("true", "false", "null"):
            continue
        if at + 1 < len(found) and found[at + 1].text == "(":
            if token.text not in functions:
                raise UnknownExpression(
                    f"${{{{ {source.strip()} }}}}: unknown function {token.text}()"
                )
        elif token.text not in contexts:
            raise UnknownExpression(f"${{{{ {source.strip()} }}}}: unknown context {token.text!r}")
        elif token.text in STRICT and at + 2 < len(found) and found[at + 1].text == ".":
            key = found[at + 2].text
            if key not in contexts[token.text]:
                raise UnknownExpression(
                    f"${{{{ {source.strip()} }}}}: {token.text}.{key} is not given to the harness"
                )


def truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


def text(value: Any) -> str:
    """A value as GitHub puts it into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    return str(value)


def _number(value: Any) -> float:
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return math.nan
    return math.nan


def equal(a: Any, b: Any) -> bool:
    """`==`: strings case-insensitively; values of different types as numbers."""
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if type(a) is type(b):
        return a == b
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return _number(a) == _number(b)


class Evaluator:
    """Evaluates one expression against `contexts`; `functions` adds the caller's own (status
    functions, hashFiles) to the pure ones."""

    def __init__(self, contexts: Mapping[str, Any], functions: Mapping[str, Callable] = {}):
        self.contexts = contexts
        self.functions = {**FUNCTIONS, **functions}

    def evaluate(self, source: str) -> Any:
        self.source, self.tokens, self.at = source, tokens(source), 0
        value = self._or()
        if self.at != len(self.tokens):
            self._fail(f"unexpected {self.tokens[self.at].text!r}")
        return value

    def _fail(self, why: str) -> NoReturn:
        raise UnknownExpression(f"${{{{ {self.source.strip()} }}}}: {why}")

    def _peek(self) -> str | None:
        return self.tokens[self.at].text if self.at < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> Token:
        if self.at >= len(self.tokens):
            self._fail("ends too soon")
        token = self.tokens[self.at]
        if expected is not None and token.text != expected:
            self._fail(f"expected {expected!r}, found {token.text!r}")
        self.at += 1
        return token

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = value if truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._compare()
        while self._peek() == "&&":
            self._take()
            right = self._compare()
            value = right if truthy(value) else value
        return value

    def _compare(self) -> Any:
        value = self._unary()
        while (op := self._peek()) in ("==", "!=", "<", "<=", ">", ">="):
            self._take()
            right = self._unary()
            if op in ("==", "!="):
                value = equal(value, right) == (op == "==")
            else:
                a, b = _number(value), _number(right)
                value = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return value

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._postfix(self._primary())

    def _primary(self) -> Any:
        token = self._take()
        if token.text == "(":
            value = self._or()
            self._take(")")
            return value
        if token.kind == "number":
            return float(token.text)
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.kind != "name":
            self._fail(f"unexpected {token.text!r}")
        if token.text in ("true", "false"):
            return token.text == "true"
        if token.text == "null":
            return None
        if self._peek() == "(":
            return self._call(token.text)
        if token.text not in self.contexts:
            self._fail(f"unknown context {token.text!r} (known: {', '.join(self.contexts)})")
        self.path = [token.text]
        return self.contexts[token.text]

    def _call(self, name: str) -> Any:
        function = self.functions.get(name)
        if function is None:
            self._fail(f"unknown function {name}() (known: {', '.join(sorted(self.functions))})")
        self._take("(")
        args = []
        while self._peek() != ")":
            args.append(self._or())
            if self._peek() == ",":
                self._take()
        self._take(")")
        self.path = [f"{name}()"]
        return function(*args)

    def _postfix(self, value: Any) -> Any:
        while self._peek() in (".", "["):
            if self._take().text == ".":
                key = self._take().text
            else:
                key = self._or()
                self._take("]")
            strict = len(self.path) == 1 and self.path[0] in STRICT
            self.path.append(str(key))
            if isinstance(value, Mapping):
                if strict and key not in value:
                    self._fail(f"{'.'.join(self.path)} is not given to the harness")
                value = value.get(key)
            elif isinstance(value, list) and isinstance(key, float) and key < len(value):
                value = value[int(key)]
            else:
                value = None
        return value


def _from_json(value: Any) -> Any:
    try:
        return json.loads(text(value))
    except json.JSONDecodeError as error:
        raise UnknownExpression(f"fromJSON({text(value)!r}): {error}") from None


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, list):
        return any(equal(item, needle) for item in haystack)
    return text(needle).casefold() in text(haystack).casefold()


def _format(template: Any, *args: Any) -> str:
    return re.sub(r"\{(\d+)\}", lambda m: text(args[int(m[1])]), text(template))


FUNCTIONS: dict[str, Callable] = {
    "fromJSON": _from_json,
    "toJSON": lambda value: json.dumps(value, indent=2),
    "contains": _contains,
    "startsWith": lambda a, b: text(a).casefold().startswith(text(b).casefold()),
    "endsWith": lambda a, b: text(a).casefold().endswith(text(b).casefold()),
    "format": _format,
}

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def interpolate(value: str, evaluator: Evaluator) -> Any:
    """A workflow string with its `${{ }}` replaced: a string that is one expression keeps
    the expression's type (an `if:`, a matrix from fromJSON), others become text."""
    whole = EXPRESSION.fullmatch(value.strip())
    if whole:
        return evaluator.evaluate(whole[1])
    return EXPRESSION.sub(lambda m: text(evaluator.evaluate(m[1])), value)
