"""Exceptions for .ci/schemathesis.sh: rules of the API that OpenAPI 3.0 cannot state, and
requests schemathesis misjudges.

A cross-field rule drops only a "schema-valid request rejected" (ST202) failure whose answer is
the 400 of that one rule, recognised by the parameter the error names and its message; any
other 400 on valid data still fails the run. A "schema-violating request accepted" (ST201) is
dropped only when the parameter it names went out as empty values, which the schema allows.
"""

import re
from urllib.parse import parse_qs, urlsplit

import hypothesis.internal.lambda_sources as _lambda_sources
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
]


def _is_cross_field_rule(response) -> bool:
    if response.status_code != 400:
        return False
    try:
        message = response.json()["error"]["message"]
    except Exception:
        return False
    return any(
        message.startswith(f"parameter `{parameter}`") and words in message
        for parameter, words in CROSS_FIELD_RULES
    )


# Query parameters whose schema admits the empty string ("empty: no filter" or "the default").
EMPTY_IS_VALID = {"type", "tag", "product", "version", "page", "per_page", "sort", "from", "to"}


def _sent_empty(failure, response) -> bool:
    """A "schema-violating request accepted" (ST201) whose named query parameter went out as
    empty values only: schemathesis generated a non-string (say a null in the array) that its
    URL encoding renders as `type=`, which the schema allows; the server saw a valid request."""
    if failure.code != "ST201":
        return False
    named = re.search(r"parameter `(\w+)` in query", failure.message or "")
    if not named or named.group(1) not in EMPTY_IS_VALID:
        return False
    sent = parse_qs(urlsplit(response.request.url).query, keep_blank_values=True)
    values = sent.get(named.group(1))
    return bool(values) and all(value == "" for value in values)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep every failure except a valid request refused by one of the rules above, or a valid
    request schemathesis took for an invalid one."""
    if failure.code == "ST202" and _is_cross_field_rule(response):
        return False
    return not _sent_empty(failure, response)
