//! `GET /api/openapi.json`: the OpenAPI 3 description of every route in [`super::ROUTES`].

use axum::Json;
use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": schema})
}

fn json_ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// The OpenAPI document.
pub fn spec() -> Value {
    let bearer = json!([{}, {"bearer": []}]);
    let id_param = json!({"name": "id", "in": "path", "required": true, "description": "Article id (may contain `/`)", "schema": {"type": "string"}});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "kbsearch",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Search for a support knowledge base. Send `Authorization: Bearer <key>` to see customer (customer key) or internal (agent key) articles; without a key only public articles are visible. Errors are `{\"error\": {\"code\", \"message\"}}`."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "FacetCount": {"type": "object", "properties": {"value": {"type": "string"}, "count": {"type": "integer"}}},
                "Support": {"type": "object", "properties": {"version": {"type": "string"}, "status": {"type": "string", "enum": ["supported", "end_of_support", "unreleased", "unknown"]}}},
                "Hit": {"type": "object", "properties": {
                    "id": {"type": "string"}, "title": {"type": "string"}, "type": {"type": "string", "enum": ["kb", "help", "release-note"]},
                    "url": {"type": "string"}, "snippet": {"type": "string", "description": "HTML: matches in <mark>, the rest escaped"},
                    "section": {"type": "object", "nullable": true, "properties": {"heading": {"type": "string"}, "anchor": {"type": "string"}, "url": {"type": "string"}}},
                    "score": {"type": "number"}, "product": {"type": "string", "nullable": true},
                    "versions": {"type": "array", "items": {"type": "string"}},
                    "support": {"type": "array", "items": {"$ref": "#/components/schemas/Support"}},
                    "end_of_support": {"type": "boolean"}, "tags": {"type": "array", "items": {"type": "string"}},
                    "updated": {"type": "string", "format": "date", "nullable": true}, "summary": {"type": "string"}
                }},
                "SearchResponse": {"type": "object", "properties": {
                    "query": {"type": "string"}, "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
                    "took_ms": {"type": "integer"}, "hits": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                    "facets": {"type": "object", "properties": {
                        "type": {"type": "array", "items": {"$ref": "#/components/schemas/FacetCount"}},
                        "product": {"type": "array", "items": {"$ref": "#/components/schemas/FacetCount"}},
                        "version": {"type": "array", "items": {"$ref": "#/components/schemas/FacetCount"}},
                        "tag": {"type": "array", "items": {"$ref": "#/components/schemas/FacetCount"}}
                    }},
                    "did_you_mean": {"type": "string", "nullable": true},
                    "notices": {"type": "array", "items": {"type": "string"}}
                }}
            }
        },
        "paths": {
            "/api/search": {"get": {
                "summary": "Ranked, filtered, highlighted search",
                "security": bearer,
                "parameters": [
                    query_param("q", "Words, \"phrases\", -excluded; error codes and versions match exactly", json!({"type": "string"})),
                    query_param("type", "kb, help or release-note; repeat for several (at most limits.max_filter_values, default 20)", json!({"type": "array", "items": {"type": "string"}})),
                    query_param("product", "Product name; once, at most 100 characters", json!({"type": "string", "maxLength": 100})),
                    query_param("version", "Version such as 7.7 or 7.7.0: articles for it and for all versions; once, at most 100 characters", json!({"type": "string", "maxLength": 100})),
                    query_param("tag", "Tag, at most 100 characters; repeat for several (any of them; at most limits.max_filter_values, default 20)", json!({"type": "array", "items": {"type": "string", "maxLength": 100}})),
                    query_param("page", "Page from 1", json!({"type": "integer", "minimum": 1})),
                    query_param("per_page", "Hits per page (capped)", json!({"type": "integer", "minimum": 1})),
                    query_param("sort", "relevance (default) or updated", json!({"type": "string", "enum": ["relevance", "updated"]}))
                ],
                "responses": {"200": json_ok("Results", json!({"$ref": "#/components/schemas/SearchResponse"})), "400": error_response("A parameter is invalid"), "401": error_response("Unknown API key")}
            }},
            "/api/suggest": {"get": {
                "summary": "Search-as-you-type completions: article titles and frequent terms",
                "security": bearer,
                "parameters": [query_param("q", "What has been typed so far", json!({"type": "string"}))],
                "responses": {"200": json_ok("Up to 8 suggestions", json!({"type": "object", "properties": {"query": {"type": "string"}, "suggestions": {"type": "array", "items": {"type": "object", "properties": {"text": {"type": "string"}, "kind": {"type": "string", "enum": ["title", "term"]}, "id": {"type": "string"}}}}}})), "401": error_response("Unknown API key")}
            }},
            "/api/articles/{id}": {"get": {
                "summary": "An article as JSON, with its rendered HTML",
                "security": bearer,
                "parameters": [id_param.clone()],
                "responses": {"200": json_ok("The article: id, title, type, url, product, versions, support, end_of_support, tags, updated, summary, sections, html (links to articles the caller may not see are reduced to text); `markdown`, the source, only for agent keys", json!({"type": "object"})), "404": error_response("No such article, or not visible to the caller"), "401": error_response("Unknown API key")}
            }},
            "/api/status": {"get": {
                "summary": "Index generation, last commit, pending changes, watcher, and per-file problems (agent key)",
                "security": [{"bearer": []}],
                "responses": {"200": json_ok("Status", json!({"type": "object"})), "401": error_response("Unknown API key"), "403": error_response("Not an agent key")}
            }},
            "/api/reindex": {"post": {
                "summary": "Compare the whole content folder with the index now (agent key); the work runs in the background",
                "security": [{"bearer": []}],
                "responses": {"202": json_ok("Accepted", json!({"type": "object"})), "401": error_response("Unknown API key"), "403": error_response("Not an agent key"), "409": error_response("This service does not own its index")}
            }},
            "/api/deflect": {"post": {
                "summary": "Articles that may answer a draft case, with a confidence in [0,1], the words that matched, and notices from the support policy; the draft is recorded before the answer",
                "security": bearer,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "subject": {"type": "string"}, "description": {"type": "string"},
                    "case_type": {"type": "string", "enum": ["problem", "question", "feature_request", "request"]},
                    "severity": {"type": "integer", "minimum": 1, "maximum": 4},
                    "product": {"type": "string"}, "version": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                    "deflection_id": {"type": "string", "format": "uuid", "description": "the id of an earlier answer for the same draft, sent by the same caller (no key, or the same key); or a random UUID of version 4 or 7 chosen by the client to start a draft with (an idempotency key). Nil, max and other versions are refused, and so is the id of a draft another caller started"}}}}}},
                "responses": {"200": json_ok("deflection_id, suggestions, notices", json!({"type": "object"})), "400": error_response("A field is invalid, subject and description are both empty, or deflection_id is not a random UUID or names a draft another caller started"), "401": error_response("Unknown API key"), "413": error_response("The draft is too large"), "503": error_response("Not ready, or events cannot be recorded now")}
            }},
            "/api/deflect/{id}/feedback": {"post": {
                "summary": "The outcome of a draft, sent by the caller who started it: solved (with article_id), not_helpful (with article_id; both only for an article the draft was shown) or case_submitted; idempotent",
                "security": bearer,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"outcome": {"type": "string", "enum": ["solved", "not_helpful", "case_submitted"]}, "article_id": {"type": "string"}}, "required": ["outcome"]}}}},
                "responses": {"200": json_ok("recorded or already_recorded", json!({"type": "object"})), "400": error_response("A field is invalid, or article_id is not one of the articles suggested for this draft"), "401": error_response("Unknown API key"), "404": error_response("Unknown deflection id, or a draft another caller started (the two are not told apart)"), "503": error_response("Events cannot be recorded now")}
            }},
            "/api/analytics/deflection": {"get": {
                "summary": "Drafts, suggestions shown, solved, submitted, deflection rate, articles that solve most and those shown but never helpful (agent key)",
                "security": [{"bearer": []}],
                "parameters": [query_param("from", "Start date or time", json!({"type": "string"})), query_param("to", "End date or time (exclusive)", json!({"type": "string"}))],
                "responses": {"200": json_ok("Deflection analytics", json!({"type": "object"})), "400": error_response("A bad date"), "403": error_response("Not an agent key")}
            }},
            "/api/analytics/search": {"get": {
                "summary": "Searches, top queries and queries without results (agent key)",
                "security": [{"bearer": []}],
                "parameters": [query_param("from", "Start date or time", json!({"type": "string"})), query_param("to", "End date or time (exclusive)", json!({"type": "string"}))],
                "responses": {"200": json_ok("Search analytics", json!({"type": "object"})), "400": error_response("A bad date"), "403": error_response("Not an agent key")}
            }},
            "/case": {
                "get": {"summary": "The case form, with suggestions as the customer types", "responses": {"200": {"description": "HTML page"}}},
                "post": {"summary": "The case form submitted without JavaScript: records the draft and case_submitted", "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}, "responses": {"200": {"description": "HTML confirmation"}, "400": {"description": "A field is invalid"}}}
            },
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": json_ok("OpenAPI 3 document", json!({"type": "object"}))}}},
            "/articles/{id}": {"get": {
                "summary": "An article as an HTML page",
                "parameters": [id_param],
                "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}, "404": {"description": "HTML page: not found"}}
            }},
            "/": {"get": {
                "summary": "The search page (HTML); accepts the /api/search parameters",
                "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}}
            }},
            "/healthz": {"get": {"summary": "The process is up", "responses": {"200": json_ok("ok", json!({"type": "object"}))}}},
            "/readyz": {"get": {"summary": "The index is open and answers; `documents` counts only the published public articles (what a caller without a key may see)", "responses": {"200": json_ok("ready", json!({"type": "object", "properties": {"status": {"type": "string", "enum": ["ready"]}, "documents": {"type": "integer"}}})), "503": {"description": "Still opening the index"}}}},
            "/metrics": {"get": {
                "summary": "Prometheus metrics (agent key): requests and latency per route, index size, last commit, pending changes, freshness",
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "OpenMetrics text exposition format", "content": {"application/openmetrics-text": {}}}, "401": error_response("No key (with `WWW-Authenticate: Bearer`), or an unknown key"), "403": error_response("Not an agent key")}
            }}
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(spec())
}
