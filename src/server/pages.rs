//! HTML pages: the search page (a plain form that works without JavaScript, enhanced by
//! `assets/app.js` to update as the customer types) and the article page. Rendered on the
//! server with maud, which escapes everything it is not told is HTML.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::{Query, QueryRejection};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;

use super::api::{SearchParams, article_url, params, run_search};
use super::error::ApiError;
use super::{AppState, Caller};
use crate::content::article::Visibility;
use crate::content::products::SupportStatus;
use crate::content::render::{self, LinkTarget};
use crate::search::facets::FacetCount;
use crate::search::{Hit, KbSearcher, SearchResults, StoredArticle, VersionSupport};

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");
const CASE_SCRIPT: &str = include_str!("assets/case.js");
const PREVIEW_SCRIPT: &str = include_str!("assets/preview.js");

/// `GET /assets/{file}`: the page's stylesheet and script, compiled into the binary.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "style.css" => ("text/css; charset=utf-8", STYLE),
        "app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "case.js" => ("text/javascript; charset=utf-8", CASE_SCRIPT),
        "preview.js" => ("text/javascript; charset=utf-8", PREVIEW_SCRIPT),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · StorageX knowledge base" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header.site {
                    a.brand href="/" { "StorageX " span { "Support knowledge base" } }
                }
                main { (body) }
                footer.site { "Data Dynamics Technical Support · 24×7 except US national holidays" }
            }
        }
    }
}

/// `GET /case`: the case form. While the customer describes the case, `assets/case.js` asks
/// `/api/deflect` for articles that may already answer it; "This solved my problem" and submitting
/// the case are recorded as the draft's outcome.
pub async fn case_page(State(state): State<AppState>) -> Response {
    let versions = state
        .searcher()
        .map(|searcher| searcher.catalog().all_versions())
        .unwrap_or_default();
    let products = state
        .searcher()
        .map(|searcher| {
            searcher
                .catalog()
                .products
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let page = layout(
        "Open a support case",
        html! {
            h1 { "Open a support case" }
            p.meta { "Describe the problem; articles that may solve it appear as you type." }
            div.case-layout {
                form.case id="case-form" method="post" action="/case" autocomplete="off" {
                    label for="subject" { "Subject" }
                    input #subject name="subject" type="text" maxlength="1000" required autofocus;
                    label for="description" { "Description" }
                    textarea #description name="description" rows="8" {}
                    div.fields {
                        label { "Request type "
                            select name="case_type" {
                                option value="problem" { "Problem" }
                                option value="question" { "Question" }
                                option value="feature_request" { "Feature Request" }
                                option value="request" { "Request" }
                            }
                        }
                        label { "Severity "
                            select name="severity" {
                                option value="1" { "1 – Critical" }
                                option value="2" { "2 – High" }
                                option value="3" selected { "3 – Medium" }
                                option value="4" { "4 – Low" }
                            }
                        }
                        label { "Product "
                            select name="product" {
                                @for product in &products { option { (product) } }
                            }
                        }
                        label { "Version "
                            select name="version" {
                                option value="" { "Not sure" }
                                @for version in &versions { option value=(version) { (version) } }
                            }
                        }
                    }
                    button type="submit" { "Submit case" }
                    p #case-status role="status" {}
                }
                section.deflect aria-labelledby="deflect-title" {
                    h2 #deflect-title { "Articles that may solve it" }
                    div #deflect-notices {}
                    ol #deflect-suggestions.hits aria-live="polite" {}
                    p #deflect-empty.meta { "Suggestions appear as you describe the case." }
                }
            }
            script src="/assets/case.js" defer {}
        },
    );
    page.into_response()
}

/// `POST /case` without JavaScript: records the case, confirms, and shows the articles that may
/// help while Technical Support answers.
pub async fn case_submitted(
    state: State<AppState>,
    caller: Caller,
    form: axum::Form<super::deflect::CaseForm>,
) -> Response {
    match super::deflect::submit_case(state, caller, form).await {
        Ok((_, deflection)) => layout(
            "Case submitted",
            html! {
                h1 { "Your case was submitted" }
                p { "Technical Support will contact you." }
                @for notice in &deflection.notices { p.notice { (notice) } }
                @if !deflection.suggestions.is_empty() {
                    h2 { "Articles that may help meanwhile" }
                    ol.hits {
                        @for suggestion in &deflection.suggestions {
                            li.hit {
                                a.title href=(article_url(&suggestion.info.id)) { (suggestion.info.title) }
                                p.snippet { (PreEscaped(suggestion.snippet.to_html())) }
                            }
                        }
                    }
                }
            },
        )
        .into_response(),
        Err(err) => error_page(err.status(), "The case could not be submitted", &err.to_string()),
    }
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = layout(
        title,
        html! {
            h1 { (title) }
            p { (message) }
            p { a href="/" { "Search the knowledge base" } }
        },
    );
    (status, page).into_response()
}

/// Unknown pages outside `/api`.
pub async fn not_found(uri: Uri) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        &format!("There is no page at {}.", uri.path()),
    )
}

/// The search page's own parameter, beside those of [`SearchParams`].
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    /// `results`: answer with the results block only, for the as-you-type script.
    fragment: Option<String>,
}

/// `GET /`: the search page.
pub async fn search_page(
    State(state): State<AppState>,
    caller: Caller,
    page_query: Result<Query<PageParams>, QueryRejection>,
    search_query: Result<Query<SearchParams>, QueryRejection>,
) -> Response {
    let parsed = params(page_query).and_then(|page| Ok((page, params(search_query)?)));
    let (page_params, search) = match parsed {
        Ok(both) => both,
        Err(err) => return error_page(err.status(), "Bad request", &err.to_string()),
    };
    let fragment = page_params.fragment.as_deref() == Some("results");
    let search = &search;
    let versions = match state.searcher() {
        Ok(searcher) => searcher.catalog().all_versions(),
        Err(err) => return error_page(err.status(), "Starting", &err.to_string()),
    };
    let outcome = if search.q.trim().is_empty() {
        None
    } else {
        Some(match search.to_request(caller, &state) {
            Ok(request) => run_search(&state, request)
                .await
                .map(|(results, _)| results),
            Err(err) => Err(err),
        })
    };
    if !fragment && let Some(Ok(results)) = &outcome {
        // As-you-type fragments are partial words; the submitted page is what was searched.
        super::api::record_search(&state, &search.q, results.total, caller.audience());
    }
    let results = results_block(search, outcome);
    if fragment {
        return results.into_response();
    }
    let title = if search.q.is_empty() {
        "Search".to_string()
    } else {
        format!("{} - Search", search.q)
    };
    let page = html! {
        form.search role="search" action="/" method="get" {
            label.visually-hidden for="q" { "Search the knowledge base" }
            input #q type="search" name="q" value=(search.q) placeholder="Describe the problem, an error code, a message…"
                autocomplete="off" list="suggestions" autofocus aria-controls="results";
            datalist #suggestions {}
            label for="version" { "Version" }
            select #version name="version" {
                option value="" selected[search.version.as_deref().unwrap_or("").is_empty()] { "All versions" }
                @for version in &versions {
                    option value=(version) selected[search.version.as_deref() == Some(version.as_str())] { (version) }
                }
            }
            @for kind in &search.types { input type="hidden" name="type" value=(kind); }
            @for tag in &search.tag { input type="hidden" name="tag" value=(tag); }
            button type="submit" { "Search" }
        }
        div #results aria-live="polite" { (results) }
    };
    layout(&title, page).into_response()
}

/// The link to this search with one parameter changed (`None` removes it) and page 1.
fn link_with(search: &SearchParams, change: &str, value: Option<&str>, toggle: bool) -> String {
    let mut pairs: Vec<(String, String)> = vec![("q".into(), search.q.clone())];
    let mut push_list = |name: &str, values: &[String]| {
        let mut values: Vec<String> = values.to_vec();
        if name == change {
            if let Some(v) = value {
                if toggle && values.iter().any(|x| x == v) {
                    values.retain(|x| x != v);
                } else if !values.iter().any(|x| x == v) {
                    values.push(v.to_string());
                }
            } else {
                values.clear();
            }
        }
        for v in values {
            pairs.push((name.to_string(), v));
        }
    };
    push_list("type", &search.types);
    push_list("tag", &search.tag);
    for (name, current) in [
        ("version", &search.version),
        ("product", &search.product),
        ("sort", &search.sort),
    ] {
        let chosen = if name == change {
            if toggle && value.is_some() && current.as_deref() == value {
                None
            } else {
                value.map(str::to_string)
            }
        } else {
            current.clone()
        };
        if let Some(v) = chosen.filter(|v| !v.is_empty()) {
            pairs.push((name.to_string(), v));
        }
    }
    if let Some(per_page) = &search.per_page {
        pairs.push(("per_page".into(), per_page.clone()));
    }
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    format!("/?{}", query.join("&"))
}

fn page_link(search: &SearchParams, page: usize) -> String {
    format!("{}&page={page}", link_with(search, "", None, false))
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn support_badge(end_of_support: bool, support: &[VersionSupport]) -> Markup {
    html! {
        @if end_of_support {
            span.badge.eos title="Every version this article is for is past its end of general support" { "End of support" }
        } @else if support.iter().any(|s| s.status == SupportStatus::EndOfSupport) {
            span.badge.partial { "Some versions out of support" }
        }
    }
}

fn facet_list(
    search: &SearchParams,
    title: &str,
    param: &str,
    counts: &[FacetCount],
    chosen: &[String],
) -> Markup {
    html! {
        @if !counts.is_empty() {
            section.facet aria-label=(title) {
                h2 { (title) }
                ul {
                    @for count in counts {
                        @let active = chosen.iter().any(|c| c == &count.value);
                        li {
                            a.active[active] href=(link_with(search, param, Some(&count.value), true)) aria-pressed=(active) {
                                (count.value) " " span.count { "(" (count.count) ")" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn hit_block(hit: &Hit) -> Markup {
    let url = article_url(&hit.info.id);
    html! {
        li.hit {
            a.title href=(url) { (hit.info.title) }
            div.meta {
                span.kind { (hit.info.kind) }
                " · "
                @if hit.info.versions.iter().any(|v| v == "all") { "all versions" } @else { "versions " (hit.info.versions.join(", ")) }
                @if let Some(updated) = hit.info.updated { " · updated " (updated) }
                " " (support_badge(hit.info.end_of_support, &hit.info.support))
            }
            p.snippet { (PreEscaped(hit.snippet.to_html())) }
            @if let Some(section) = &hit.section {
                a.section href=(format!("{url}#{}", section.anchor)) { "→ " (section.heading) }
            }
        }
    }
}

fn results_block(
    search: &SearchParams,
    outcome: Option<Result<Arc<SearchResults>, ApiError>>,
) -> Markup {
    let Some(outcome) = outcome else {
        return html! { p.hint { "Search by symptom, error code (for example 0x80070005 or ERR_SHARE_LOCKED) or message text." } };
    };
    let results = match outcome {
        Ok(results) => results,
        Err(err) => return html! { p.error role="alert" { (err.to_string()) } },
    };
    let per_page: usize = search
        .per_page
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or(10);
    let page: usize = search
        .page
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let pages = results.total.div_ceil(per_page.max(1));
    let version = search.version.clone().into_iter().collect::<Vec<_>>();
    html! {
        @if let Some(suggestion) = &results.did_you_mean {
            p.did-you-mean { "Did you mean " a href=(link_with(&SearchParams { q: suggestion.clone(), page: None, ..search.clone() }, "", None, false)) { (suggestion) } "?" }
        }
        div.layout {
            @if let Some(facets) = &results.facets {
                aside.facets aria-label="Filters" {
                    (facet_list(search, "Type", "type", &facets.kind, &search.types))
                    (facet_list(search, "Version", "version", &facets.version, &version))
                    (facet_list(search, "Tag", "tag", &facets.tag, &search.tag))
                }
            }
            section.hits {
                p.count { (results.total) " articles" @if results.total > 0 { ", page " (page) " of " (pages) } }
                @if results.hits.is_empty() {
                    p { "No articles match. Try fewer or different words, or remove a filter." }
                }
                ol.hits start=((page - 1) * per_page + 1) {
                    @for hit in &results.hits { (hit_block(hit)) }
                }
                @if pages > 1 {
                    nav.pagination aria-label="Pages" {
                        @if page > 1 { a rel="prev" href=(page_link(search, page - 1)) { "← Previous" } }
                        @for p in pages_around(page, pages) {
                            @if p == page { span aria-current="page" { (p) } } @else { a href=(page_link(search, p)) { (p) } }
                        }
                        @if page < pages { a rel="next" href=(page_link(search, page + 1)) { "Next →" } }
                    }
                }
            }
        }
    }
}

/// Page numbers to show: the first, the last, and two on each side of the current one.
fn pages_around(page: usize, pages: usize) -> Vec<usize> {
    let mut shown: Vec<usize> = (page.saturating_sub(2).max(1)..=(page + 2).min(pages)).collect();
    if shown.first() != Some(&1) {
        shown.insert(0, 1);
    }
    if shown.last() != Some(&pages) {
        shown.push(pages);
    }
    shown
}

/// Loads an article the audience may see and renders its body; `NotFound` otherwise, the same
/// for a missing and a hidden article.
pub fn load_article(
    searcher: &KbSearcher,
    id: &str,
    audience: Visibility,
    drafts: bool,
) -> Result<(StoredArticle, String), ApiError> {
    let not_found = || ApiError::NotFound(format!("article `{id}`"));
    let article = searcher
        .article(id, audience, drafts)
        .map_err(ApiError::from)?
        .ok_or_else(not_found)?;
    let html = render::article_html(
        &article.info.path,
        &article.info.title,
        &article.markdown,
        |path, anchor| {
            match searcher.id_for_path(path, audience, drafts) {
                Ok(Some(target)) => {
                    let fragment = anchor.map(|a| format!("#{a}")).unwrap_or_default();
                    LinkTarget::Page(format!("{}{fragment}", article_url(&target)))
                }
                // Missing, hidden from this reader, or unreadable: the text stays, the link goes.
                _ => LinkTarget::Drop,
            }
        },
    );
    Ok((article, html))
}

/// `GET /articles/{id}`: the article page.
pub async fn article_page(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let searcher = match state.searcher() {
        Ok(searcher) => searcher,
        Err(err) => return error_page(err.status(), "Starting", &err.to_string()),
    };
    let loaded = tokio::task::spawn_blocking(move || {
        load_article(&searcher, &id, caller.audience(), caller.drafts)
    })
    .await;
    let (article, body) = match loaded {
        Ok(Ok(page)) => page,
        Ok(Err(ApiError::NotFound(_))) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "Article not found",
                "This article does not exist or is not available to you.",
            );
        }
        Ok(Err(err)) => return error_page(err.status(), "Error", &err.to_string()),
        Err(err) => {
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Error", &err.to_string());
        }
    };
    let page = html! {
        article.kb {
            p.breadcrumb { a href="/" { "Knowledge base" } " › " (article.info.kind) }
            h1 { (article.info.title) }
            div.meta {
                @if article.info.versions.iter().any(|v| v == "all") { "All versions" } @else {
                    "Versions: "
                    @for (i, s) in article.info.support.iter().enumerate() {
                        @if i > 0 { ", " }
                        (s.version)
                        @if s.status == SupportStatus::EndOfSupport { " (end of support)" }
                    }
                }
                @if let Some(updated) = article.info.updated { " · Updated " (updated) }
                " " (support_badge(article.info.end_of_support, &article.info.support))
            }
            @if article.info.end_of_support {
                p.notice role="note" { "General support has ended for the versions this article covers. See product version support for the supported versions." }
            }
            (PreEscaped(body))
        }
    };
    layout(&article.info.title, page).into_response()
}
