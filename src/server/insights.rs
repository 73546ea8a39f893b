//! `GET /insights`: the support managers' dashboard, for agents only (a signed-in session or an
//! agent key; anyone else is sent to `/signin` or refused). One period (default: the last 30
//! days, at most a year) and optionally one product; the store counts (`events::Insights`),
//! `insights::Dashboard` decides what is shown, and this module draws it as a page, or one of its
//! tables as CSV (`GET /insights/{table}.csv`, same parameters).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::{Query, QueryRejection};
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, PageError};
use super::layout::layout;
use super::requests::article_url;
use super::session::AgentPage;
use crate::events::{InsightsQuery, MAX_INSIGHTS_DAYS, TimeRange};
use crate::insights::charts::LineChart;
use crate::insights::dashboard::{ArticleSummary, Dashboard, Period, percent};
use crate::insights::tables::Table;

/// Days the dashboard covers when no period is chosen.
const DEFAULT_DAYS: i64 = 30;
/// Entries in each list of queries, and articles read at most.
const TOP: usize = 20;
/// Articles read for the article tables (they are sorted several ways from one list).
const ARTICLES: usize = 200;
/// Unanswered draft texts grouped at most.
const TEXTS: usize = 1_000;

/// The dashboard's parameters; an empty one is the default.
#[derive(Debug, Default, Deserialize)]
pub struct InsightsParams {
    /// First day, `YYYY-MM-DD` (UTC).
    from: Option<String>,
    /// Last day, included.
    to: Option<String>,
    /// One product of the catalog.
    product: Option<String>,
}

/// The period and product asked for, checked.
struct Chosen {
    period: Period,
    product: Option<String>,
}

impl InsightsParams {
    fn check(&self, state: &AppState) -> Result<Chosen, ApiError> {
        let today = Utc::now().date_naive();
        let day = |name: &str, value: &Option<String>| -> Result<Option<NaiveDate>, ApiError> {
            match value.as_deref() {
                None | Some("") => Ok(None),
                // Exactly `YYYY-MM-DD`: chrono alone would take padded or blank-prefixed text.
                Some(text) => text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'-')
                    .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
                    .flatten()
                    .map(Some)
                    .ok_or_else(|| ApiError::parameter(name, "is not a date (YYYY-MM-DD)")),
            }
        };
        let last = day("to", &self.to)?.unwrap_or(today);
        let first = day("from", &self.from)?.unwrap_or(last - Duration::days(DEFAULT_DAYS - 1));
        if first > last {
            return Err(ApiError::parameter("from", "is after `to`"));
        }
        if (last - first).num_days() + 1 > MAX_INSIGHTS_DAYS {
            return Err(ApiError::parameter(
                "from",
                format!("the period is longer than {MAX_INSIGHTS_DAYS} days"),
            ));
        }
        let product = match self.product.as_deref() {
            None | Some("") => None,
            Some(name) => {
                let searcher = state.searcher()?;
                let known = searcher.catalog().product(name).map(|p| p.name.clone());
                Some(known.ok_or_else(|| {
                    ApiError::parameter(
                        "product",
                        format!("`{name}` is not a product of the catalog"),
                    )
                })?)
            }
        };
        Ok(Chosen {
            period: Period { first, last },
            product,
        })
    }
}

/// Reads the period's counts and builds its dashboard, as the agent sees the articles.
async fn dashboard(
    state: &AppState,
    caller: AgentPage,
    chosen: &Chosen,
) -> Result<Dashboard, ApiError> {
    let events = state.events.clone().ok_or_else(|| {
        ApiError::Unavailable("events are not recorded by this service (no event store)".into())
    })?;
    let midnight =
        |day: NaiveDate| Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"));
    let query = InsightsQuery {
        range: TimeRange {
            from: Some(midnight(chosen.period.first)),
            to: Some(midnight(chosen.period.last + Duration::days(1))),
        },
        product: chosen.product.clone(),
        top: TOP.max(ARTICLES),
        texts: TEXTS,
    };
    let mut insights = events.insights(query).await?;
    for list in [
        &mut insights.top_queries,
        &mut insights.zero_result_queries,
        &mut insights.unclicked_queries,
    ] {
        list.truncate(TOP);
    }
    let searcher = state.searcher()?;
    let AgentPage(agent) = caller;
    let period = chosen.period;
    let product = chosen.product.clone();
    tokio::task::spawn_blocking(move || {
        let article = |id: &str| -> Option<ArticleSummary> {
            let found = searcher.article(id, agent.audience(), false).ok()??;
            Some(ArticleSummary {
                url: article_url(&found.info.id),
                title: found.info.title,
                product: found.info.product,
                end_of_support: found.info.end_of_support,
            })
        };
        Dashboard::build(period, product.as_deref(), &insights, &article)
    })
    .await
    .map_err(|err| ApiError::Internal(err.to_string()))
}

/// `GET /insights`: the dashboard page.
pub async fn insights_page(
    State(state): State<AppState>,
    agent: AgentPage,
    params: Result<Query<InsightsParams>, QueryRejection>,
) -> Result<Markup, PageError> {
    let bad = |err| PageError::titled("Bad request", err);
    let Query(params) = params.map_err(|rejection| bad(ApiError::from(rejection)))?;
    let chosen = params.check(&state).map_err(bad)?;
    let dashboard = dashboard(&state, agent, &chosen)
        .await
        .map_err(|err| PageError::titled("Insights", err))?;
    let products: Vec<String> = state
        .searcher()
        .map(|s| {
            s.catalog()
                .products
                .iter()
                .map(|p| p.name.clone())
                .collect()
        })
        .unwrap_or_default();
    Ok(layout("Insights", page(&dashboard, &chosen, &products)))
}

/// `GET /insights/{table}.csv`: one table of the dashboard as CSV.
pub async fn insights_csv(
    State(state): State<AppState>,
    agent: AgentPage,
    Path(file): Path<String>,
    params: Result<Query<InsightsParams>, QueryRejection>,
) -> Result<Response, PageError> {
    let bad = |err| PageError::titled("Bad request", err);
    let Query(params) = params.map_err(|rejection| bad(ApiError::from(rejection)))?;
    let chosen = params.check(&state).map_err(bad)?;
    let not_found = || {
        PageError::new(
            StatusCode::NOT_FOUND,
            "No such table",
            "The dashboard has no table by this name.",
        )
    };
    let id = file.strip_suffix(".csv").ok_or_else(not_found)?;
    let dashboard = dashboard(&state, agent, &chosen)
        .await
        .map_err(|err| PageError::titled("Insights", err))?;
    let table = dashboard
        .tables
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(not_found)?;
    let csv = table
        .to_csv()
        .map_err(|err| PageError::titled("Insights", ApiError::Internal(err.to_string())))?;
    let name = format!(
        "attachment; filename=\"kbsearch-{id}-{}-{}.csv\"",
        chosen.period.first, chosen.period.last
    );
    let disposition = HeaderValue::from_str(&name).expect("ids and dates are header-safe");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
        .into_response())
}

/// The query string that keeps the chosen period and product, for the CSV links.
fn chosen_query(chosen: &Chosen) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("from", &chosen.period.first.to_string());
    query.append_pair("to", &chosen.period.last.to_string());
    if let Some(product) = &chosen.product {
        query.append_pair("product", product);
    }
    query.finish()
}

fn page(dashboard: &Dashboard, chosen: &Chosen, products: &[String]) -> Markup {
    let h = &dashboard.headline;
    let query = chosen_query(chosen);
    let figure = |id: &str, caption: &str, chart: &LineChart| -> Markup {
        let svg = chart.to_svg().map_or_else(
            |err| html! { p.error { (err.to_string()) } },
            |svg| PreEscaped(accessible(&svg, &format!("{id}-caption"))),
        );
        html! {
            figure.chart #(id) {
                (svg)
                figcaption #(format!("{id}-caption")) { (caption) " per " (dashboard.bucket) " (numbers in the table below)" }
            }
        }
    };
    html! {
        h1.page-title { "Insights" }
        form.insights-period method="get" action="/insights" {
            label for="from" { "From" }
            input #from type="date" name="from" value=(chosen.period.first);
            label for="to" { "To" }
            input #to type="date" name="to" value=(chosen.period.last);
            label for="product" { "Product" }
            select #product name="product" {
                option value="" selected[chosen.product.is_none()] { "All products" }
                @for product in products {
                    option value=(product) selected[chosen.product.as_deref() == Some(product.as_str())] { (product) }
                }
            }
            button type="submit" { "Show" }
        }
        p.period { (chosen.period.first) " to " (chosen.period.last) " (UTC), " (chosen.period.days()) " days"
            @if let Some(product) = &chosen.product { ", " (product) } "." }
        section aria-labelledby="headline-title" {
            h2 #headline-title { "The period in numbers" }
            dl.headline {
                div { dt { "Drafts" } dd #drafts { (h.drafts) } }
                div { dt { "Shown a suggestion" } dd #drafts-with-suggestions { (h.drafts_with_suggestions) } }
                div { dt { "Solved by an article" } dd #drafts-solved { (h.drafts_solved) } }
                div { dt { "Cases submitted" } dd #cases-submitted { (h.cases_submitted) } }
                div { dt { "Deflection rate" } dd #deflection-rate { (percent(h.deflection_rate)) } }
                div { dt { "Searches" } dd #searches { (h.searches) } }
                div { dt { "With no results" } dd #zero-result-share { (percent(h.zero_result_share)) } }
                div { dt { "Click-through rate" } dd #click-through-rate { (percent(h.click_through_rate)) } }
                div { dt { "Mean rank of first click" } dd #mean-first-click-rank {
                    (h.mean_first_click_rank.map_or("–".to_string(), |r| format!("{r:.1}"))) } }
                div { dt { "Helpful votes" } dd #votes-helpful { (h.votes_helpful) } }
                div { dt { "Not helpful votes" } dd #votes-not-helpful { (h.votes_not_helpful) } }
            }
        }
        section aria-labelledby="charts-title" {
            h2 #charts-title { "Over time" }
            (figure("funnel-chart", "Deflection funnel and rate", &dashboard.funnel_chart))
            (figure("search-chart", "Searches, share with no results and click-through", &dashboard.search_chart))
        }
        @for table in &dashboard.tables {
            (table_section(table, &query))
        }
    }
}

/// An SVG with its caption as its accessible name: `role="img"` and `aria-labelledby`.
fn accessible(svg: &str, caption_id: &str) -> String {
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-labelledby=\"{caption_id}\" focusable=\"false\" "),
        1,
    )
}

fn table_section(table: &Table, query: &str) -> Markup {
    let title = format!("{}-title", table.id);
    html! {
        section.insight-table #(table.id) aria-labelledby=(title) {
            h2 #(title) { (table.caption) }
            a.download href=(format!("/insights/{}.csv?{query}", table.id)) download {
                "Download CSV" span.visually-hidden { " of " (table.caption) }
            }
            @if table.rows.is_empty() {
                p.empty { "Nothing in this period." }
            } @else {
                div.table-scroll {
                    table {
                        thead { tr { @for column in &table.columns { th scope="col" { (column) } } } }
                        tbody {
                            @for row in &table.rows {
                                tr {
                                    @for cell in row {
                                        td {
                                            @if let Some(link) = &cell.link { a href=(link) { (cell.text) } }
                                            @else { (cell.text) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
