//! HTML pages: the search page (a plain form that works without JavaScript, enhanced by
//! `assets/app.js` to update as the customer types), the article page and the case form, with the
//! assets they load. Rendered on the server with maud, which escapes everything it is not told
//! is HTML.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::{Query, QueryRejection};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::error::{ApiError, PageError};
use super::layout::layout;
use super::requests::{
    CaseForm, SearchParams, Searched, article_url, load_article, new_random_id, random_id,
    record_search, run_search, submit_case,
};
use super::session::PageCaller;
use super::{AppState, Caller};
use crate::content::products::SupportStatus;
use crate::events::MAX_COMMENT_CHARS;
use crate::search::facets::FacetCount;
use crate::search::{Hit, SearchResults, VersionSupport};

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
    State(state): State<AppState>,
    caller: Caller,
    form: Result<axum::Form<CaseForm>, FormRejection>,
) -> Result<Markup, PageError> {
    let axum::Form(form) =
        form.map_err(|err| PageError::titled("The case could not be submitted", err.into()))?;
    let (_, deflection) = submit_case(&state, caller, form)
        .await
        .map_err(|err| PageError::titled("The case could not be submitted", err))?;
    Ok(layout(
        "Case submitted",
        html! {
            h1 { "Your case was submitted" }
            p { "Technical Support will contact you." }
            @for notice in &deflection.notices {
                p.notice {
                    (notice.text)
                    @if let Some(id) = &notice.article {
                        " " a href=(article_url(id)) { "Product version support" }
                    }
                }
            }
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
    ))
}

/// Unknown pages outside `/api`.
pub async fn not_found(uri: Uri) -> PageError {
    PageError::new(
        StatusCode::NOT_FOUND,
        "Page not found",
        format!("There is no page at {}.", uri.path()),
    )
}

/// The search page's own parameters, beside those of [`SearchParams`].
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    /// `results`: answer with the results block only, for the as-you-type script.
    fragment: Option<String>,
    /// The id of the search being typed (the script sends back the one its last results
    /// carried): the search is recorded under it, so that as-you-type results and the submitted
    /// page are one search whose last words count, and clicks name it.
    search: Option<String>,
    /// `public`: an agent sees the page as an anonymous customer does (the dashboard's query
    /// links); not recorded.
    view: Option<String>,
}

/// `GET /`: the search page.
pub async fn search_page(
    State(state): State<AppState>,
    PageCaller(caller): PageCaller,
    page_query: Result<Query<PageParams>, QueryRejection>,
    search_query: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Markup, PageError> {
    let bad_request = |rejection| PageError::titled("Bad request", ApiError::from(rejection));
    let Query(page_params) = page_query.map_err(bad_request)?;
    let Query(search_params) = search_query.map_err(bad_request)?;
    let fragment = page_params.fragment.as_deref() == Some("results");
    let as_public = page_params.view.as_deref() == Some("public");
    let caller = if as_public { Caller::ANONYMOUS } else { caller };
    let search = &search_params;
    let versions = state
        .searcher()
        .map_err(|err| PageError::titled("Starting", err))?
        .catalog()
        .all_versions();
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
    let search_id = match &outcome {
        Some(Ok(results)) if !as_public => {
            let id = page_params
                .search
                .as_deref()
                .and_then(random_id)
                .unwrap_or_else(new_random_id);
            let searched = Searched {
                id: Some(id.clone()),
                product: search.product.clone(),
            };
            record_search(
                &state,
                &search.q,
                results.total,
                caller.audience(),
                searched,
            );
            Some(id)
        }
        _ => None,
    };
    let results = results_block(search, outcome, search_id.as_deref());
    if fragment {
        return Ok(results);
    }
    let title = if search.q.is_empty() {
        "Search".to_string()
    } else {
        format!("{} - Search", search.q)
    };
    let page = html! {
        h1.page-title { "Search the knowledge base" }
        @if as_public {
            p.notice.agent { "You see this search as an anonymous customer does; it is not recorded." }
        } @else if caller.is_agent() && !state.preview {
            p.notice.agent { "Internal articles are shown too, labelled “Internal”. " a href="/signin" { "Your sign-in" } }
        }
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
            @if as_public { input type="hidden" name="view" value="public"; }
            @for kind in &search.types { input type="hidden" name="type" value=(kind); }
            @for tag in &search.tag { input type="hidden" name="tag" value=(tag); }
            button type="submit" { "Search" }
        }
        div #results aria-live="polite" { (results) }
    };
    Ok(layout(&title, page))
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

/// Who may see the article, when that is not everyone: agents and writers must not mistake an
/// internal article for one they can send to a customer.
fn audience_badge(visibility: &str) -> Markup {
    html! {
        @match visibility {
            "internal" => span.badge.internal { "Internal" },
            "customer" => span.badge.customer { "Registered customers" },
            _ => {},
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
                            // A link, so its state is `aria-current` (`aria-pressed` is for buttons).
                            a.active[active] href=(link_with(search, param, Some(&count.value), true)) aria-current=[active.then_some("true")] {
                                (count.value) " " span.count { "(" (count.count) ")" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One result; `rank` counts from 1 across pages, for the click beacon.
fn hit_block(hit: &Hit, rank: usize) -> Markup {
    let url = article_url(&hit.info.id);
    html! {
        li.hit {
            a.title href=(url) data-article=(hit.info.id) data-rank=(rank) { (hit.info.title) }
            div.meta {
                span.kind { (hit.info.kind) }
                " · "
                @if hit.info.versions.iter().any(|v| v == "all") { "all versions" } @else { "versions " (hit.info.versions.join(", ")) }
                @if let Some(updated) = hit.info.updated { " · updated " (updated) }
                " " (support_badge(hit.info.end_of_support, &hit.info.support))
                " " (audience_badge(&hit.info.visibility))
            }
            p.snippet { (PreEscaped(hit.snippet.to_html())) }
            @if let Some(section) = &hit.section {
                a.section href=(format!("{url}#{}", section.anchor)) { "→ " (section.heading) }
            }
        }
    }
}

/// The results of a search; `search_id` names it for the click beacon when it was recorded.
fn results_block(
    search: &SearchParams,
    outcome: Option<Result<Arc<SearchResults>, ApiError>>,
    search_id: Option<&str>,
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
            section.hits data-search=[search_id] {
                p.count { (results.total) " articles" @if results.total > 0 { ", page " (page) " of " (pages) } }
                @if results.hits.is_empty() {
                    p { "No articles match. Try fewer or different words, or remove a filter." }
                }
                ol.hits start=((page - 1) * per_page + 1) {
                    @for (i, hit) in results.hits.iter().enumerate() { (hit_block(hit, (page - 1) * per_page + i + 1)) }
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

/// The article page's own parameter.
#[derive(Debug, Default, Deserialize)]
pub struct ArticleParams {
    /// `yes` or `no` after a vote (`POST /vote` returns here): the page thanks the reader.
    voted: Option<String>,
}

/// What the article page says after a vote (`?voted=yes` or `no`).
pub fn thanks(voted: Option<&str>) -> Option<&'static str> {
    match voted {
        Some("yes") => Some("Thank you: glad it helped."),
        Some("no") => Some("Thank you: your vote and comment go to the writers of this article."),
        _ => None,
    }
}

/// The vote form of an article page.
pub fn vote_form(article_id: &str, voted: Option<&str>) -> Markup {
    html! {
        section.vote #helpful aria-labelledby="helpful-title" {
            h2 #helpful-title { "Was this helpful?" }
            @if let Some(thanks) = thanks(voted) {
                p.thanks role="status" { (thanks) " You can change your vote." }
            }
            form method="post" action="/vote" {
                input type="hidden" name="article" value=(article_id);
                button type="submit" name="helpful" value="yes" { "Yes" }
                details {
                    summary { "No" }
                    label for="comment" { "What was missing or wrong? (optional)" }
                    textarea #comment name="comment" maxlength=(MAX_COMMENT_CHARS) rows="3" {}
                    button type="submit" name="helpful" value="no" { "Send: not helpful" }
                }
            }
        }
    }
}

/// `GET /articles/{id}`: the article page.
pub async fn article_page(
    State(state): State<AppState>,
    PageCaller(caller): PageCaller,
    Path(id): Path<String>,
    params: Result<Query<ArticleParams>, QueryRejection>,
) -> Result<Markup, PageError> {
    // A bad `voted` only loses the thanks: the article is still worth showing.
    let voted = params.ok().and_then(|Query(params)| params.voted);
    let searcher = state
        .searcher()
        .map_err(|err| PageError::titled("Starting", err))?;
    let loaded = tokio::task::spawn_blocking(move || {
        load_article(&searcher, &id, caller.audience(), caller.drafts)
    })
    .await
    .map_err(|err| PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "Error", err.to_string()))?;
    let (article, body) = loaded.map_err(|err| match err {
        ApiError::NotFound(_) => PageError::new(
            StatusCode::NOT_FOUND,
            "Article not found",
            "This article does not exist or is not available to you.",
        ),
        other => PageError::titled("Error", other),
    })?;
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
                " " (audience_badge(&article.info.visibility))
            }
            @if article.info.end_of_support {
                p.notice role="note" { "General support has ended for the versions this article covers. See product version support for the supported versions." }
            }
            (PreEscaped(body))
            (vote_form(&article.info.id, voted.as_deref()))
        }
    };
    Ok(layout(&article.info.title, page))
}
