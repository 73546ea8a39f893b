"""Exceptions for .ci/schemathesis.sh: rules of the API that OpenAPI 3.0 cannot state, and
requests schemathesis misjudges.

A cross-field rule drops only a "schema-valid request rejected" (ST202) failure whose answer is
the 400 of that one rule, recognised by the parameter the error names and its message; any
other 400 on valid data still fails the run. A "schema-violating request accepted" (ST201) is
dropped only when the query parameter it names, as it went out on the wire, satisfies the
schema.
"""

import html
import re
from urllib.parse import parse_qs, urlsplit

import hypothesis.internal.lambda_sources as _lambda_sources
import jsonschema_rs
import schemathesis

# CPython 3.11.7's ast.parse can raise "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905, fixed in later releases) when hypothesis parses a lambda's source only
# to name it in a strategy's repr; the run then ends in a "Runtime Error" that says nothing about
# the API. The name is cosmetic: answer as hypothesis does for a source it cannot read.
_lambda_description = _lambda_sources._lambda_description


def _lambda_description_or_unknown(f):
    try:
        return _lambda_description(f)
    except SystemError:
        return "lambda: <unknown>"


_lambda_sources._lambda_description = _lambda_description_or_unknown

# (parameter named in the error, words of its message, why OpenAPI cannot say it)
CROSS_FIELD_RULES = [
    # page × per_page ≤ limits.max_result_depth: a bound on a product of two parameters.
    ("page", "cannot be paged to"),
    # `to` not before `from`: a comparison between two parameters.
    ("to", "is before `from`"),
    # article_id must be one of the articles this draft was shown: depends on an earlier answer.
    ("article_id", "is not one of the articles suggested"),
    # version must be one the product catalog knows (for the product, when one is given): the
    # catalog is content (kb/products.yaml) and changes without a new API; an enum would make
    # every generated client stale at the next release. The description lists the current ones.
    ("version", "unknown version"),
    # The dashboard's period: `from` not after `to` (a comparison between two parameters), and
    # at most 366 days (a bound on their difference).
    ("from", "is after `to`"),
    ("from", "the period is longer than"),
    # product must be one the catalog knows: content, like version above.
    ("product", "is not a product of the catalog"),
]


def _is_cross_field_rule(response) -> bool:
    if response.status_code != 400:
        return False
    try:
        message = response.json()["error"]["message"]
    except Exception:
        # A page's 400 says the same words in its HTML.
        message = html.unescape(re.sub(r"<[^>]+>", " ", response.text or ""))
        return any(
            f"parameter `{parameter}`" in message and words in message
            for parameter, words in CROSS_FIELD_RULES
        )
    return any(
        message.startswith(f"parameter `{parameter}`") and words in message
        for parameter, words in CROSS_FIELD_RULES
    )


def _text_is_valid(schema, text) -> bool:
    """Whether a query value as sent satisfies `schema`: read as text, or as an integer when it
    is written as one (the server reads `page=3` as the number 3)."""
    readings = [text]
    if re.fullmatch(r"-?[0-9]+", text):
        readings.append(int(text))
    return any(jsonschema_rs.is_valid(schema, reading, validate_formats=True) for reading in readings)


def _sent_valid(failure, case, response) -> bool:
    """A "schema-violating request accepted" (ST201) whose named query parameters, as they went
    out on the wire, all satisfy the schema: schemathesis generated values of another type (a
    null, `false`, an empty object) that URL encoding turns into valid text (`type=`,
    `tag=false`); the server saw a valid request and was right to accept it. The failure names
    one parameter (`parameter `tag` in query`) or several (`parameters `per_page`, `tag` in
    query`); every one must be valid as sent."""
    if failure.code != "ST201":
        return False
    named = re.search(r"parameters? ((?:`[^`]+`(?:, )?)+) in query", failure.message or "")
    if not named:
        return False
    names = re.findall(r"`([^`]+)`", named.group(1))
    sent = parse_qs(urlsplit(response.request.url).query, keep_blank_values=True)
    return bool(names) and all(_value_sent_valid(case, name, sent.get(name)) for name in names)


def _value_sent_valid(case, name, sent) -> bool:
    """Whether the values of query parameter `name`, as sent, satisfy its schema."""
    definition = next((p.definition for p in case.operation.query if p.name == name), None)
    if definition is None or not sent:
        return False
    schema = definition.get("schema", {})
    if schema.get("type") == "array":
        return len(sent) <= schema.get("maxItems", len(sent)) and all(
            _text_is_valid(schema.get("items", {}), value) for value in sent
        )
    return len(sent) == 1 and _text_is_valid(schema, sent[0])


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep every failure except a valid request refused by one of the rules above, or a valid
    request schemathesis took for an invalid one."""
    if failure.code == "ST202" and _is_cross_field_rule(response):
        return False
    return not _sent_valid(failure, case, response)
