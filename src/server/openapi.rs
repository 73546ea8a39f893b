//! `GET /api/openapi.json`: the OpenAPI 3 description of every route in [`super::ROUTES`],
//! exact enough for a client generator or a property-based tester (`.ci/schemathesis.sh`): every
//! parameter's type, range and enum, the limits as this service is configured, which routes
//! need which key, and every status each route can answer.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::requests::{MAX_FILTER_VALUE_CHARS, MAX_SUBJECT_CHARS};
use super::session::MAX_NEXT_CHARS;
use crate::config::Config;
use crate::deflect::MAX_LIMIT;
use crate::events::{MAX_ARTICLE_ID_CHARS, MAX_CLICK_RANK, MAX_COMMENT_CHARS};
use crate::insights::dashboard::DASHBOARD_TABLES;

/// Unicode's White_Space as a regex class body: what the server trims (`str::trim`). `\s` would
/// not do, as ECMAScript's `\s` leaves out U+0085 and adds U+FEFF.
macro_rules! white_space {
    () => {
        r"\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}
/// A string with something other than white space in it: what a field "not empty" means here.
const NOT_BLANK: &str = concat!("[^", white_space!(), "]");
/// A string of white space only, which the server reads as a field not given.
const BLANK: &str = concat!("^[", white_space!(), "]*$");

/// A deflection id a client may send: a UUID of version 4 or 7 with the RFC 4122 variant
/// (see `requests::checked_id`), in any case, with surrounding white space ignored.
/// A search's id as the search page writes it: a random UUID (version 4 or 7), hyphenated.
const RANDOM_UUID: &str =
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[47][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$";
const DEFLECTION_ID: &str = r"^\s*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[47][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}\s*$";

fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn html(description: &str) -> Value {
    json!({"description": description, "content": {"text/html; charset=utf-8": {"schema": {"type": "string"}}}})
}

fn json_ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": schema})
}

/// Repeatable query parameters are sent as `tag=a&tag=b`.
fn repeated(name: &str, description: &str, items: Value, max_items: usize) -> Value {
    json!({"name": name, "in": "query", "description": description, "style": "form", "explode": true,
           "schema": {"type": "array", "items": items, "maxItems": max_items}})
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

/// The statuses every route may answer whatever it is sent: a request that outlived
/// `limits.request_timeout_secs`, or an index that is not open yet, is a 503.
fn with_common(mut responses: Value) -> Value {
    responses["503"] = error(
        "The index is not open yet, events cannot be recorded now, or the answer took longer than limits.request_timeout_secs",
    );
    responses
}

/// The statuses of a route anyone may call: an unknown key is refused rather than ignored.
fn anyone(mut responses: Value) -> Value {
    responses["401"] = error("An `Authorization` header that is not a known key");
    with_common(responses)
}

/// The statuses of a route that needs an agent key.
fn agents_only(mut responses: Value) -> Value {
    responses["401"] =
        error("No key (answered with `WWW-Authenticate: Bearer`), or an unknown key");
    responses["403"] = error("A key without the agent role");
    with_common(responses)
}

fn rate_limited(mut responses: Value, setting: &str) -> Value {
    responses["429"] = error(&format!(
        "Rate limited ({setting}): wait the `Retry-After` seconds"
    ));
    responses
}

/// The search parameters shared by `/api/search` and the search page.
fn search_parameters(config: &Config) -> Value {
    let limits = &config.limits;
    let filter = |values: Value| json!({"anyOf": [values, {"type": "string", "maxLength": 0}]});
    json!([
        {"name": "q", "in": "query", "required": true,
         "description": "Words, \"phrases\", -excluded words; error codes and versions match exactly. A query of excluded words only finds nothing, with a notice",
         "schema": {"type": "string", "minLength": 1, "maxLength": limits.max_query_chars, "pattern": NOT_BLANK}},
        repeated("type", "Article types; any of them (an empty value is ignored)",
            filter(json!({"type": "string", "enum": ["kb", "help", "release-note"]})), limits.max_filter_values),
        query("product", "Product name (once; empty is no filter)", json!({"type": "string", "maxLength": MAX_FILTER_VALUE_CHARS})),
        query("version", "A version of the product catalog (kb/products.yaml), such as 7.7.0, or a prefix naming one (7.7): articles for it and for all versions (once; empty is no filter; the versions are listed in the `version` facet)",
            json!({"type": "string", "maxLength": MAX_FILTER_VALUE_CHARS})),
        repeated("tag", "Tags; any of them (an empty value is ignored)",
            json!({"type": "string", "maxLength": MAX_FILTER_VALUE_CHARS}), limits.max_filter_values),
        query("page", "Page from 1 (empty: 1); page × per_page may not pass limits.max_result_depth",
            filter(json!({"type": "integer", "minimum": 1, "maximum": limits.max_result_depth}))),
        query("per_page", "Hits per page (empty: 10)",
            filter(json!({"type": "integer", "minimum": 1, "maximum": limits.max_per_page}))),
        query("sort", "relevance (the default, also when empty) or updated (newest first)",
            json!({"type": "string", "enum": ["", "relevance", "updated"]})),
    ])
}

fn schemas() -> Value {
    let string = json!({"type": "string"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let integer = json!({"type": "integer", "minimum": 0});
    let nullable_string = json!({"type": "string", "nullable": true});
    let nullable_integer = json!({"type": "integer", "nullable": true});
    let kind = json!({"type": "string", "enum": ["kb", "help", "release-note"]});
    let section = json!({"type": "object", "nullable": true, "required": ["heading", "anchor", "url"],
        "properties": {"heading": string, "anchor": string, "url": string}});
    let facet = json!({"type": "array", "items": {"$ref": "#/components/schemas/FacetCount"}});
    let counts = json!({"type": "array", "items": object(&["article_id", "count"], json!({"article_id": string, "count": integer}))});
    json!({
        "Error": object(&["error"], json!({"error": object(&["code", "message"], json!({"code": string, "message": string}))})),
        "FacetCount": object(&["value", "count"], json!({"value": string, "count": integer})),
        "Support": object(&["version", "status"], json!({"version": string,
            "status": {"type": "string", "enum": ["supported", "end_of_support", "unreleased", "unknown"]}})),
        "Hit": object(
            &["id", "title", "type", "url", "snippet", "section", "score", "product", "versions", "support", "end_of_support", "tags", "updated", "summary"],
            json!({
                "id": string, "title": string, "type": kind, "url": string,
                "snippet": {"type": "string", "description": "HTML: matches in <mark>, the rest escaped"},
                "section": section, "score": {"type": "number"}, "product": nullable_string,
                "versions": strings, "support": {"type": "array", "items": schema_ref("Support")},
                "end_of_support": {"type": "boolean"}, "tags": strings,
                "updated": {"type": "string", "format": "date", "nullable": true}, "summary": string
            })),
        "SearchResponse": object(
            &["query", "total", "page", "per_page", "took_ms", "hits", "facets", "did_you_mean", "notices"],
            json!({
                "query": string, "total": integer, "page": integer, "per_page": integer, "took_ms": integer,
                "hits": {"type": "array", "items": schema_ref("Hit")},
                "facets": object(&["type", "product", "version", "tag"], json!({"type": facet, "product": facet, "version": facet, "tag": facet})),
                "did_you_mean": nullable_string, "notices": strings
            })),
        "Suggestions": object(&["query", "suggestions"], json!({
            "query": string,
            "suggestions": {"type": "array", "maxItems": 8, "items": object(&["text", "kind"], json!({
                "text": string, "kind": {"type": "string", "enum": ["title", "term"]}, "id": string}))}
        })),
        "Article": object(
            &["id", "title", "type", "url", "product", "versions", "support", "end_of_support", "tags", "updated", "summary", "sections", "html"],
            json!({
                "id": string, "title": string, "type": kind, "url": string, "product": nullable_string,
                "versions": strings, "support": {"type": "array", "items": schema_ref("Support")},
                "end_of_support": {"type": "boolean"}, "tags": strings,
                "updated": {"type": "string", "format": "date", "nullable": true}, "summary": string,
                "sections": {"type": "array", "items": object(&["heading", "anchor", "level"], json!({"heading": string, "anchor": string, "level": {"type": "integer", "minimum": 1, "maximum": 6}}))},
                "html": {"type": "string", "description": "The rendered body; links to articles the caller may not see are reduced to their text"},
                "markdown": {"type": "string", "description": "The source; only for agent keys"}
            })),
        "Notice": object(&["text"], json!({"text": string, "url": {"type": "string", "description": "The article that says more, when there is one"}})),
        "Suggestion": object(
            &["id", "title", "type", "url", "snippet", "section", "confidence", "matched_terms", "end_of_support"],
            json!({
                "id": string, "title": string, "type": kind, "url": string, "snippet": string, "section": section,
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "matched_terms": strings, "end_of_support": {"type": "boolean"}
            })),
        "Deflection": object(&["deflection_id", "took_ms", "suggestions", "notices"], json!({
            "deflection_id": {"type": "string", "format": "uuid"}, "took_ms": integer,
            "suggestions": {"type": "array", "items": schema_ref("Suggestion")},
            "notices": {"type": "array", "items": schema_ref("Notice")}
        })),
        "Status": object(&["index", "content"], json!({
            "index": object(&["ready", "folder", "documents", "last_commit"], json!({
                "ready": {"type": "boolean"}, "folder": string, "documents": nullable_integer, "last_commit": nullable_integer,
                "generation": integer, "batches": integer, "pending_changes": integer,
                "watching": nullable_string, "rearmed_at": nullable_integer, "rearms": integer,
                "reconciled_at": nullable_integer, "last_changes": {"type": "object", "nullable": true},
                "last_error": nullable_string
            })),
            "content": object(&["folder", "errors", "warnings", "problems"], json!({
                "folder": string, "errors": integer, "warnings": integer,
                "problems": {"type": "array", "items": {"type": "object"}}
            })),
            "semantic": {
                "type": "object", "nullable": true,
                "description": "With a model (agents only): how far the article vectors are, and how many drafts and queries were embedded or, the model being busy with another, ranked lexically",
                "required": ["model", "model_id", "documents", "embedded", "pending", "requests_embedded", "requests_busy"],
                "properties": {
                    "model": string, "model_id": string, "dimensions": integer, "max_tokens": integer,
                    "documents": integer, "embedded": integer, "pending": integer,
                    "per_second": {"type": "number"}, "embedded_since_start": integer,
                    "computing": {"type": "boolean"}, "last_error": nullable_string,
                    "requests_embedded": integer, "requests_busy": integer
                }
            },
            "events": {
                "type": "object", "nullable": true,
                "required": ["kind", "available", "last_error"],
                "properties": {
                    "kind": {"type": "string", "enum": ["sqlite", "postgresql"]},
                    "available": {"type": "boolean"},
                    "last_error": nullable_string
                }
            }
        })),
        "DeflectionAnalytics": object(
            &["drafts", "drafts_with_suggestions", "suggestions_shown", "drafts_with_outcome", "drafts_deflected", "solved", "not_helpful", "case_submitted", "deflection_rate", "top_solving", "shown_never_helpful", "never_helpful_min_shown"],
            json!({
                "drafts": integer, "drafts_with_suggestions": integer, "suggestions_shown": integer,
                "drafts_with_outcome": integer, "drafts_deflected": integer, "solved": integer,
                "not_helpful": integer, "case_submitted": integer,
                "deflection_rate": {"type": "number", "nullable": true, "minimum": 0, "maximum": 1},
                "top_solving": counts, "shown_never_helpful": counts, "never_helpful_min_shown": integer
            })),
        "SearchAnalytics": object(&["searches", "top_queries", "zero_result_queries", "zero_result_share"], json!({
            "searches": integer,
            "top_queries": {"type": "array", "items": object(&["query", "count"], json!({"query": string, "count": integer}))},
            "zero_result_queries": {"type": "array", "items": object(&["query", "count"], json!({"query": string, "count": integer}))},
            "zero_result_share": {"type": "number", "nullable": true, "minimum": 0, "maximum": 1, "description": "null when there were no searches"}
        }))
    })
}

/// A non-blank `subject` or a non-blank `description`: a draft needs one of them.
fn subject_or_description() -> Value {
    json!([
        {"required": ["subject"], "properties": {"subject": {"pattern": NOT_BLANK}}},
        {"required": ["description"], "properties": {"description": {"pattern": NOT_BLANK}}}
    ])
}

/// The fields a draft has as JSON and as the case form; a form has no null, JSON may send one
/// for "not given".
fn draft_properties(config: &Config, nullable: bool) -> Value {
    let mut case_types = json!(["", "problem", "question", "feature_request", "request"]);
    if nullable {
        case_types.as_array_mut().expect("a list").push(Value::Null);
    }
    json!({
        "subject": {"type": "string", "maxLength": MAX_SUBJECT_CHARS},
        "description": {"type": "string", "description": format!("bounded by the request body limit ({} bytes)", config.limits.max_body_bytes)},
        "case_type": {"anyOf": [{"type": "string", "nullable": nullable, "enum": case_types}, {"type": "string", "pattern": BLANK}],
            "description": "problem when absent, empty or white space only"},
        "product": {"type": "string", "nullable": nullable}, "version": {"type": "string", "nullable": nullable}
    })
}

/// The OpenAPI document, with the limits of `config`.
pub fn spec(config: &Config) -> Value {
    let bearer = json!([{}, {"bearer": []}]);
    let agent = json!([{"bearer": []}]);
    let id_param = json!({"name": "id", "in": "path", "required": true, "description": "Article id (may contain `/`)", "schema": {"type": "string", "minLength": 1}});
    let range = json!([
        query(
            "from",
            "Start: a date (2026-11-01) or an RFC 3339 time; empty is no bound",
            json!({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}, {"type": "string", "maxLength": 0}]})
        ),
        query(
            "to",
            "End (exclusive), as `from`; not before `from`",
            json!({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}, {"type": "string", "maxLength": 0}]})
        ),
    ]);
    let day = |name: &str, description: &str| {
        query(
            name,
            description,
            json!({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]}),
        )
    };
    let insights_params = json!([
        day(
            "from",
            "First day (UTC), `YYYY-MM-DD`; empty: 29 days before `to`"
        ),
        day("to", "Last day, included; empty: today"),
        query(
            "product",
            "One product of the catalog (`kb/products.toml`); empty: all",
            json!({"type": "string"})
        ),
    ]);
    let mut deflect_body = json!({"type": "object", "properties": draft_properties(config, true), "anyOf": subject_or_description()});
    deflect_body["properties"]["severity"] = json!({"type": "integer", "minimum": 1, "maximum": 4, "nullable": true, "description": "1 (production down) to 4; 3 when absent"});
    deflect_body["properties"]["limit"] =
        json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "nullable": true});
    deflect_body["properties"]["deflection_id"] = json!({"type": "string", "nullable": true, "pattern": DEFLECTION_ID,
        "description": "The id of an earlier answer for the same draft, sent by the same caller (no key, or the same key); or a random UUID of version 4 or 7 chosen by the client to start a draft with (an idempotency key). The id of a draft another caller started is refused"});
    let mut case_form = json!({"type": "object", "properties": draft_properties(config, false), "anyOf": subject_or_description()});
    case_form["properties"]["severity"] =
        json!({"type": "string", "enum": ["", "1", "2", "3", "4"]});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "kbsearch",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Search for a support knowledge base. Send `Authorization: Bearer <key>` to see customer (customer key) or internal (agent key) articles; without a key only public articles are visible. Errors are `{\"error\": {\"code\", \"message\"}}`; a parameter's error names it."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API key from the service's configuration; its role (customer or agent) decides what the caller sees"}},
            "schemas": schemas()
        },
        "paths": {
            "/api/search": {"get": {
                "summary": "Ranked, filtered, highlighted search",
                "security": bearer,
                "parameters": search_parameters(config),
                "responses": rate_limited(anyone(json!({
                    "200": json_ok("Results", schema_ref("SearchResponse")),
                    "400": error("A parameter is invalid, repeated too often, or pages past limits.max_result_depth; the message names it")
                })), "rate_limit.search_per_second, when set")
            }},
            "/api/suggest": {"get": {
                "summary": "Search-as-you-type completions: article titles and frequent terms",
                "security": bearer,
                "parameters": [query("q", "What has been typed so far", json!({"type": "string", "maxLength": config.limits.max_query_chars}))],
                "responses": rate_limited(anyone(json!({
                    "200": json_ok("Up to 8 suggestions", schema_ref("Suggestions")),
                    "400": error("`q` is too long, or the query string does not parse")
                })), "rate_limit.search_per_second, when set")
            }},
            "/api/articles/{id}": {"get": {
                "summary": "An article as JSON, with its rendered HTML",
                "security": bearer,
                "parameters": [id_param.clone()],
                "responses": anyone(json!({
                    "200": json_ok("The article", schema_ref("Article")),
                    "404": error("No such article, or not visible to the caller (the two are not told apart)")
                }))
            }},
            "/api/status": {"get": {
                "summary": "Index generation, last commit, pending changes, watcher, and per-file problems",
                "security": agent,
                "responses": agents_only(json!({"200": json_ok("Status", schema_ref("Status"))}))
            }},
            "/api/reindex": {"post": {
                "summary": "Compare the whole content folder with the index now; the work runs in the background",
                "security": agent,
                "responses": agents_only(json!({
                    "202": json_ok("Accepted", object(&["status", "generation"], json!({"status": {"type": "string", "enum": ["accepted"]}, "generation": {"type": "integer", "minimum": 0}}))),
                    "409": error("This service does not own its index")
                }))
            }},
            "/api/deflect": {"post": {
                "summary": "Articles that may answer a draft case, with a confidence in [0,1], the words that matched, and notices from the support policy; the draft is recorded before the answer (while the event store is unavailable, the suggestions are answered and the draft is not recorded)",
                "security": bearer,
                "requestBody": {"required": true, "content": {"application/json": {"schema": deflect_body}}},
                "responses": rate_limited(anyone(json!({
                    "200": json_ok("The suggestions, and the id to send back while the draft changes", schema_ref("Deflection")),
                    "400": error("A field is invalid, subject and description are both empty, the body is not JSON, or deflection_id is not a random UUID or names a draft another caller started"),
                    "413": error("The draft is larger than limits.max_body_bytes")
                })), "rate_limit.writes_*")
            }},
            "/api/deflect/{deflection_id}/feedback": {"post": {
                "summary": "The outcome of a draft, sent by the caller who started it: solved (with article_id), not_helpful (with article_id; both only for an article the draft was shown) or case_submitted; idempotent",
                "security": bearer,
                "parameters": [{"name": "deflection_id", "in": "path", "required": true, "description": "The deflection_id of the draft's answer", "schema": {"type": "string", "pattern": DEFLECTION_ID}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["outcome"],
                    "properties": {"outcome": {"type": "string", "enum": ["solved", "not_helpful", "case_submitted"]}, "article_id": {"type": "string", "nullable": true}},
                    "anyOf": [
                        {"properties": {"outcome": {"enum": ["case_submitted"]}}},
                        {"required": ["article_id"], "properties": {"article_id": {"type": "string", "pattern": NOT_BLANK}}}
                    ]
                }}}},
                "responses": rate_limited(anyone(json!({
                    "200": json_ok("Recorded now, or already recorded before", object(&["status"], json!({"status": {"type": "string", "enum": ["recorded", "already_recorded"]}}))),
                    "400": error("A field is invalid, the body is not JSON, or article_id is not one of the articles suggested for this draft"),
                    "404": error("Unknown deflection id, or a draft another caller started (the two are not told apart)"),
                    "413": error("The body is larger than limits.max_body_bytes")
                })), "rate_limit.writes_*")
            }},
            "/api/analytics/deflection": {"get": {
                "summary": "Drafts, suggestions shown, solved, submitted, deflection rate, articles that solve most and those shown but never helpful",
                "security": agent,
                "parameters": range.clone(),
                "responses": agents_only(json!({"200": json_ok("Deflection analytics", schema_ref("DeflectionAnalytics")), "400": error("A bad date, or `to` before `from`")}))
            }},
            "/api/analytics/search": {"get": {
                "summary": "Searches, top queries and queries without results",
                "security": agent,
                "parameters": range,
                "responses": agents_only(json!({"200": json_ok("Search analytics", schema_ref("SearchAnalytics")), "400": error("A bad date, or `to` before `from`")}))
            }},
            "/case": {
                "get": {"summary": "The case form, with suggestions as the customer types", "security": bearer,
                        "responses": with_common(json!({"200": html("HTML page"), "401": html("HTML page: an unknown key")}))},
                "post": {"summary": "The case form submitted without JavaScript: records the draft and case_submitted. Only from this site's own pages (`Origin` or `Sec-Fetch-Site`)", "security": bearer,
                         "requestBody": {"required": true, "content": {"application/x-www-form-urlencoded": {"schema": case_form}}},
                         "responses": with_common(json!({
                            "200": html("HTML confirmation, with articles that may help meanwhile"),
                            "400": html("HTML page: a field is invalid, or subject and description are both empty"),
                            "415": html("HTML page: not sent as `application/x-www-form-urlencoded`"),
                            "401": html("HTML page: an unknown key"),
                            "403": html("HTML page: the form was posted from another site"),
                            "413": html("HTML page: the form is larger than limits.max_body_bytes"),
                            "429": html("HTML page: rate limited (rate_limit.writes_*), with `Retry-After`")
                         }))}
            },
            "/signin": {
                "get": {"summary": "The agents' sign-in form; to a signed-in browser, who is signed in and a sign-out button",
                        "parameters": [query("next", "The page on this site to return to after signing in (anything else returns to the search page)", json!({"type": "string", "maxLength": MAX_NEXT_CHARS}))],
                        "responses": with_common(json!({"200": html("HTML page"), "400": html("HTML page: the query string does not parse, or `next` is too long")}))},
                "post": {"summary": "Signs an agent key in: a signed, HttpOnly, SameSite=Strict session cookie (never the key) and a redirect to `next`. Only from this site's own pages (`Origin` or `Sec-Fetch-Site`)",
                         "requestBody": {"required": true, "content": {"application/x-www-form-urlencoded": {"schema": object(&["key"], json!({
                             "key": {"type": "string", "format": "password", "description": "An agent key from the configuration"},
                             "next": {"type": "string", "maxLength": MAX_NEXT_CHARS}
                         }))}}},
                         "responses": with_common(json!({
                            "303": {"description": "Signed in: `Set-Cookie` with the session, and `Location` the page to return to", "headers": {"Set-Cookie": {"schema": {"type": "string"}}, "Location": {"schema": {"type": "string"}}}},
                            "400": html("HTML page: the form does not parse, or `next` is too long"),
                            "401": html("HTML page: the key is not a configured key"),
                            "403": html("HTML page: a customer key, or the form was posted from another site"),
                            "413": html("HTML page: the form is larger than limits.max_body_bytes"),
                            "415": html("HTML page: not sent as `application/x-www-form-urlencoded`"),
                            "429": html("HTML page: rate limited (rate_limit.signin_*), with `Retry-After`")
                         }))}
            },
            "/signout": {"post": {"summary": "Ends the browser's sign-in: clears the session cookie and returns to the sign-in page. Only from this site's own pages",
                         "responses": with_common(json!({
                            "303": {"description": "Signed out: `Set-Cookie` clears the session", "headers": {"Set-Cookie": {"schema": {"type": "string"}}, "Location": {"schema": {"type": "string"}}}},
                            "403": html("HTML page: the form was posted from another site")
                         }))}},
            "/insights": {"get": {
                "summary": "The support dashboard, for agents (a signed-in session from `/signin`, or an agent key): the deflection funnel and searches over time, top queries, articles by helpfulness, and what to write next, for a period and product",
                "security": bearer,
                "parameters": insights_params.clone(),
                "responses": with_common(json!({
                    "200": html("HTML page"),
                    "303": {"description": "Not signed in: to `/signin`, and back after signing in", "headers": {"Location": {"schema": {"type": "string"}}}},
                    "400": html("HTML page: a parameter is invalid, `from` is after `to`, the period is longer than 366 days, or the product is not in the catalog"),
                    "401": html("HTML page: an unknown key"),
                    "403": html("HTML page: a customer key")
                }))
            }},
            "/insights/{file}": {"get": {
                "summary": "One table of the dashboard as CSV; agents only, as `/insights`",
                "security": bearer,
                "parameters": insights_params.as_array().unwrap().iter().cloned().chain([json!({"name": "file", "in": "path", "required": true, "schema": {"type": "string", "enum": DASHBOARD_TABLES.iter().map(|t| format!("{t}.csv")).collect::<Vec<_>>()}})]).collect::<Vec<_>>(),
                "responses": with_common(json!({
                    "200": {"description": "CSV with a header row, as an attachment", "content": {"text/csv; charset=utf-8": {"schema": {"type": "string"}}}},
                    "303": {"description": "Not signed in: to `/signin`", "headers": {"Location": {"schema": {"type": "string"}}}},
                    "400": html("HTML page: a parameter is invalid, as for `/insights`"),
                    "401": html("HTML page: an unknown key"),
                    "403": html("HTML page: a customer key"),
                    "404": html("HTML page: the dashboard has no such table")
                }))
            }},
            "/vote": {"post": {
                "summary": "\"Was this helpful?\" from an article page: one vote per article per browser session (a `kbsearch_visitor` session cookie; voting again replaces the vote), a comment only with `no`. Only from this site's own pages",
                "security": bearer,
                "requestBody": {"required": true, "content": {"application/x-www-form-urlencoded": {"schema": object(&["article", "helpful"], json!({
                    "article": {"type": "string", "maxLength": MAX_ARTICLE_ID_CHARS, "description": "The article's id"},
                    "helpful": {"type": "string", "enum": ["yes", "no"]},
                    "comment": {"type": "string", "maxLength": MAX_COMMENT_CHARS, "description": "What was missing or wrong; kept with `no` only"}
                }))}}},
                "responses": rate_limited(with_common(json!({
                    "303": {"description": "Recorded: back to the article (`?voted=yes` or `no`), with `Set-Cookie` for a new visitor", "headers": {"Location": {"schema": {"type": "string"}}, "Set-Cookie": {"schema": {"type": "string"}}}},
                    "400": html("HTML page: a field is missing or invalid, or the comment is too long"),
                    "401": html("HTML page: an unknown key"),
                    "403": html("HTML page: the form was posted from another site"),
                    "404": html("HTML page: no such article, or not visible to the caller"),
                    "413": html("HTML page: the form is larger than limits.max_body_bytes"),
                    "415": html("HTML page: not sent as `application/x-www-form-urlencoded`")
                })), "rate_limit.writes_*")
            }},
            "/click": {"post": {
                "summary": "A click on a search result, sent by the search page as a beacon: the search's id (from the results' `data-search`), the article and its rank. Best effort: 204 whether or not it is kept (a click on an article the caller may not see, or for a search not recorded, is not). Only from this site's own pages",
                "security": bearer,
                "requestBody": {"required": true, "content": {"application/x-www-form-urlencoded": {"schema": object(&["search", "article", "rank"], json!({
                    "search": {"type": "string", "pattern": RANDOM_UUID},
                    "article": {"type": "string", "minLength": 1, "maxLength": MAX_ARTICLE_ID_CHARS},
                    "rank": {"type": "integer", "minimum": 1, "maximum": MAX_CLICK_RANK}
                }))}}},
                "responses": rate_limited(anyone(json!({
                    "204": {"description": "Taken"},
                    "400": error("A field is missing or invalid"),
                    "403": html("HTML page: the form was posted from another site"),
                    "413": error("The form is larger than limits.max_body_bytes"),
                    "415": error("Not sent as `application/x-www-form-urlencoded`")
                })), "rate_limit.writes_*")
            }},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": json_ok("OpenAPI 3 document", json!({"type": "object"}))}}},
            "/articles/{id}": {"get": {
                "summary": "An article as an HTML page; an agent key or a signed-in agent's session cookie (`/signin`) opens internal articles, labelled",
                "security": bearer,
                "parameters": [id_param],
                "responses": with_common(json!({"200": html("HTML page"), "401": html("HTML page: an unknown key"), "404": html("HTML page: no such article, or not visible to the caller")}))
            }},
            "/": {"get": {
                "summary": "The search page; with `q`, the results too (the /api/search parameters, all optional here). An agent key or a signed-in agent's session cookie (`/signin`) adds internal articles, labelled",
                "security": bearer,
                "responses": rate_limited(with_common(json!({"200": html("HTML page"), "400": html("HTML page: a parameter is invalid"), "401": html("HTML page: an unknown key")})), "rate_limit.search_per_second, when set")
            }},
            "/healthz": {"get": {"summary": "The process is up", "responses": {"200": json_ok("ok", object(&["status"], json!({"status": {"type": "string", "enum": ["ok"]}})))}}},
            "/readyz": {"get": {"summary": "The index is open and answers; `documents` counts only the published public articles (what a caller without a key may see)", "responses": {
                "200": json_ok("ready", object(&["status", "documents"], json!({"status": {"type": "string", "enum": ["ready"]}, "documents": {"type": "integer", "minimum": 0}}))),
                "503": json_ok("Still opening the index", object(&["status"], json!({"status": {"type": "string", "enum": ["starting"]}})))
            }}},
            "/metrics": {"get": {
                "summary": "Prometheus metrics: requests and latency per route, index size, last commit, pending changes, freshness, events",
                "security": agent,
                "responses": agents_only(json!({"200": {"description": "OpenMetrics text", "content": {"application/openmetrics-text; version=1.0.0; charset=utf-8": {"schema": {"type": "string"}}}}}))
            }}
        }
    })
}

pub async fn document(State(state): State<AppState>) -> Json<Value> {
    Json(spec(&state.config))
}
