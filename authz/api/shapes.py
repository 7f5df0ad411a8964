"""Request shapes, declared once: the fields of a JSON body or of a query string, each with the parser that checks
it (:mod:`authz.values`), the JSON Schema that describes it and the error codes it can answer.

The validator (:meth:`Shape.parse`), the query parser, the OpenAPI document (:mod:`authz.api.openapi`) and the
/v1/check fast path (:func:`authz.api.decisions.check_values`) all derive from these declarations; the shapes
themselves live next to their handlers. ``tests/test_shapes_property.py`` proves the fast path and the validator agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from authz import values
from authz.errors import Invalid

Parse = Callable[[Any, str], Any]
Schema = dict[str, Any]

_CODE_PATTERN = f"^{values.CODE_RE.pattern}$"
_KVK_PATTERN = f"^{values.KVK_RE.pattern}$"
# values.CONTROL_RE in the JSON Schema's regex syntax: what no address or free text may hold (C0 apart, for a text
# that may have lines).
_CONTROL_BEYOND_C0 = "".join(c if c == "-" else f"\\u{ord(c):04x}" for c in values.CONTROL_BEYOND_C0)
_CONTROL = "\\u0000-\\u001f" + _CONTROL_BEYOND_C0


@dataclass(frozen=True)
class Field:
    """One field: ``parse(value, name)`` returns the trusted value or raises ``Invalid`` with one of ``errors``."""

    parse: Parse
    schema: Schema
    errors: tuple[str, ...] = ()
    required: bool = True
    nullable: bool = False
    default: Any = None  # given for an absent query parameter

    def optional(self, nullable: bool = True) -> Field:
        return replace(self, required=False, nullable=nullable)

    def with_schema(self, **extra: Any) -> Field:
        """The same field, described further (a description, a bound the handler checks)."""
        return replace(self, schema={**self.schema, **extra})

    def json_schema(self) -> Schema:
        if not self.nullable:
            return self.schema
        kind = self.schema.get("type")
        if isinstance(kind, str):
            return {**self.schema, "type": [kind, "null"]}
        return {"anyOf": [self.schema, {"type": "null"}]}


class Shape:
    """The fields of one request part, in the order they are checked: unknown names are refused first (all named),
    then the first missing or wrong field, so each body has one answer."""

    unknown_code = "unknown_field"
    noun = "field"

    def __init__(self, **fields: Field) -> None:
        self.fields = fields
        self.names = frozenset(fields)
        self.required = frozenset(n for n, f in fields.items() if f.required)

    def parse(self, data: Mapping[str, Any]) -> dict[str, Any]:
        if not self.names.issuperset(data):
            unknown = sorted(set(data) - self.names)
            raise Invalid(self.unknown_code, f"Unknown {self.noun}(s): {', '.join(unknown)}.")
        out: dict[str, Any] = {}
        for name, f in self.fields.items():
            if name in data:
                value = data[name]
                out[name] = None if value is None and f.nullable else f.parse(value, name)
            elif f.required:
                raise Invalid("missing_field", f"The field '{name}' is required.")
            elif f.default is not None:
                out[name] = f.default
        return out

    def errors(self) -> set[str]:
        """Every error code :meth:`parse` can raise."""
        out = {self.unknown_code, *(c for f in self.fields.values() for c in f.errors)}
        if self.required:
            out.add("missing_field")
        return out

    def json_schema(self) -> Schema:
        """A closed JSON object schema (unknown fields are refused, as the API does)."""
        return {"type": "object", "additionalProperties": False,
                "required": [n for n, f in self.fields.items() if f.required],
                "properties": {n: f.json_schema() for n, f in self.fields.items()}}

    def field(self) -> Field:
        """This shape as the value of a field of another body: a JSON object, checked the same way."""
        def parse(value: Any, name: str) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise Invalid("invalid_field", f"'{name}' must be a JSON object.")
            return self.parse(value)

        return Field(parse, self.json_schema(), tuple(sorted(self.errors() | {"invalid_field"})))


class Body(Shape):
    """The fields of a JSON body."""


class OpenBody(Body):
    """The fields of a JSON body whose unknown fields are ignored rather than refused: the forward compatibility
    OpenID AuthZEN asks of a receiver ("receivers MUST ignore unknown fields"), at every level that is itself an
    ``OpenBody``. ``schema`` adds to the document's description what a field cannot say alone (e.g. ``anyOf``)."""

    def __init__(self, schema: Schema | None = None, **fields: Field) -> None:
        super().__init__(**fields)
        self.extra_schema = schema or {}

    def parse(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return super().parse({k: v for k, v in data.items() if k in self.names})

    def errors(self) -> set[str]:
        return super().errors() - {self.unknown_code}

    def json_schema(self) -> Schema:
        schema = {k: v for k, v in super().json_schema().items() if k != "additionalProperties"}
        return {**schema, **self.extra_schema}


class Query(Shape):
    """The parameters of a query string (each value a string); none is required."""

    unknown_code = "unknown_parameter"
    noun = "query parameter"

    def extend(self, **fields: Field) -> Query:
        return Query(**self.fields, **fields)


# -- the fields of bodies ----------------------------------------------------------------------------------------

# An address has an '@' and no control character; values.email gives its canonical form (or refuses it). No
# "format": "email": that would promise RFC 5321's syntax, which the parser does not hold an address to (an unknown
# address is a denial, R13), and a client or fuzzer would rightly expect "a b@c" to be refused.
EMAIL = Field(values.email, {"type": "string", "maxLength": values.MAX_EMAIL,
                             "description": "an e-mail address (compared in its canonical form)",
                             "pattern": f"^[^{_CONTROL}]*@[^{_CONTROL}]*$"},
              ("invalid_email",))
KVK = Field(values.kvk, {"type": "string", "pattern": _KVK_PATTERN}, ("invalid_kvk",))
CODE = Field(values.code, {"type": "string", "pattern": _CODE_PATTERN}, ("invalid_product_code",))
CODES = Field(values.codes, {"type": "array", "items": {"type": "string", "pattern": _CODE_PATTERN}},
              ("invalid_field", "invalid_product_code", "duplicate_product"))
DAY = Field(values.iso_day, {"type": "string", "format": "date"}, ("invalid_date",))
PASSWORD = Field(values.password, {"type": "string", "minLength": 12, "maxLength": 256}, ("weak_password",))
DOMAINS = Field(values.domains, {"type": "array", "items": {"type": "string", "pattern": f"^[^{_CONTROL}]*$"}},
                ("invalid_field",))
URL = Field(values.https_url, {"type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]://",
                                "maxLength": values.MAX_URL}, ("invalid_url",))


def text(max_len: int = 200, min_len: int = 1, lines: bool = False) -> Field:
    """Free text by :func:`authz.values.text`: trimmed, ``min_len`` to ``max_len`` characters, no control characters
    (line breaks only with ``lines``)."""
    refused = "\\u0000-\\u0009\\u000b\\u000c\\u000e-\\u001f" if lines else "\\u0000-\\u001f"
    return Field(values.text(max_len, min_len, lines),
                 {"type": "string", "minLength": min_len, "maxLength": max_len,
                  "pattern": f"^[^{refused}{_CONTROL_BEYOND_C0}]*$"}, ("invalid_field",))


def integer(minimum: int = 0, maximum: int = values.MAX_BIGINT) -> Field:
    return Field(values.integer(minimum, maximum), {"type": "integer", "minimum": minimum, "maximum": maximum},
                 ("invalid_field",))


def _json_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid("invalid_field", f"'{name}' must be a JSON object.")
    return value


def _literal(expected: str) -> Parse:
    def parse(value: Any, name: str) -> str:
        if value != expected:
            raise Invalid("unsupported", f"'{name}' must be '{expected}'.")
        return expected

    return parse


JSON_OBJECT = Field(_json_object, {"type": "object"}, ("invalid_field",))


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise Invalid("invalid_field", f"'{name}' must be a string.")
    return value


STRING = Field(_string, {"type": "string"}, ("invalid_field",))  # any string: what it names is the handler's


def literal(expected: str) -> Field:
    """A value that must be exactly ``expected`` (AuthZEN's types and action names)."""
    return Field(_literal(expected), {"const": expected}, ("unsupported",))


def bounded_list(maximum: int, noun: str) -> Parse:
    """A JSON list of at most ``maximum`` items (a batch), its items left to the handler: ``invalid_field`` when it
    is no list, ``batch_too_large`` when it is longer."""
    def parse(value: Any, name: str) -> list[Any]:
        if not isinstance(value, list):
            raise Invalid("invalid_field", f"'{name}' must be a list of {noun}.")
        if len(value) > maximum:
            raise Invalid("batch_too_large", f"A batch holds at most {maximum} {noun}.")
        return value

    return parse


def custom(parse: Parse, schema: Schema, *errors: str) -> Field:
    """A field whose parser is the handler's own (its rule depends on the request, e.g. the free-mail list)."""
    return Field(parse, schema, errors)


# -- the parameters of query strings -----------------------------------------------------------------------------

def search(max_len: int) -> Field:
    """A search term or filter that reaches the database: at most ``max_len`` characters, no control characters
    (a NUL would reach the database, which refuses it: a 500 where a 4xx belongs)."""
    def parse(value: str, name: str) -> str:
        if len(value) > max_len:
            raise Invalid("invalid_parameter", f"'{name}' may be at most {max_len} characters.")
        if values.has_control(value):
            raise Invalid("invalid_parameter", f"'{name}' may not contain control characters.")
        return value

    return Field(parse, {"type": "string", "maxLength": max_len}, ("invalid_parameter",), required=False)


def limit(default: int, maximum: int) -> Field:
    """The page size: a whole number of ASCII digits from 1 to ``maximum``."""
    def parse(value: str, name: str) -> int:
        number = values.whole_number(value)
        if number is None or not 1 <= number <= maximum:
            raise Invalid("invalid_limit", f"'{name}' must be a whole number from 1 to {maximum}.")
        return number

    return Field(parse, {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
                 ("invalid_limit",), required=False, default=default)


def cursor(decode: Callable[[str], Any], schema: Schema | None = None) -> Field:
    """An opaque page cursor that this service gave out; anything else is ``invalid_cursor``."""
    return Field(lambda value, name: decode(value), schema or {"type": "string"}, ("invalid_cursor",),
                 required=False)


def _id_after(value: str) -> int:
    number = values.whole_number(value)
    if number is None:
        raise Invalid("invalid_cursor", "The cursor is not one this service gave out.")
    return number


ID_CURSOR = cursor(_id_after)  # the id of the last row given: ASCII digits


def one_of(choices: tuple[str, ...], default: str, code: str) -> Field:
    def parse(value: str, name: str) -> str:
        if value not in choices:
            raise Invalid(code, f"'{name}' is one of {', '.join(choices)}.")
        return value

    return Field(parse, {"enum": list(choices), "default": default}, (code,), required=False, default=default)


KVK_PARAM = replace(KVK, required=False)


def memoized(parse: Parse, size: int = 4096) -> Parse:
    """``parse`` remembering the string values it accepted (at most ``size``, then it starts afresh): for fields of
    the hot path whose values are few and repeat, such as product codes. Exact: only what ``parse`` returned is
    remembered, and a refused value is parsed again every time (so it raises as ``parse`` does)."""
    seen: dict[str, Any] = {}

    def parse_memoized(value: Any, name: str) -> Any:
        if type(value) is not str:
            return parse(value, name)
        out = seen.get(value)
        if out is None:
            out = parse(value, name)
            if len(seen) >= size:
                seen.clear()
            seen[value] = out
        return out

    return parse_memoized


NO_FIELDS = Body()  # a write that takes no fields: {} (or, where the handler allows it, no body)
NO_QUERY = Query()
