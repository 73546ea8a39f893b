//! Article pages: markdown to safe HTML. Headings carry the anchors `markdown::anchored_events`
//! assigns (the ones search results link to); links to other articles are rewritten to their
//! pages, or reduced to plain text when the reader may not see the target; and the HTML is
//! sanitised with ammonia, because raw HTML in markdown passes through pulldown-cmark untouched
//! (`<script>`, `javascript:` links and event attributes never reach the browser).
//!
//! An article can name another in more ways than `[text](other.md)`: a site path
//! (`/articles/other-id`), a relative link that lands on an article page (`other-id` from
//! `/articles/this-id`), or a raw HTML `<a href>`. Every one of them goes through the same
//! resolution, so a link to an article the reader may not see never reaches them, by any spelling.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use pulldown_cmark::{CowStr, Event, HeadingLevel, Tag, TagEnd};

use crate::content::markdown::{self, is_external};

/// Path of the article pages, under which a link names an article by id.
const ARTICLE_PAGES: &str = "/articles/";

/// Where a link to another article should point.
pub enum LinkTarget {
    /// The target's page URL.
    Page(String),
    /// The target is missing or hidden from this reader: keep the link text, drop the link.
    Drop,
}

/// An article a link names, as the link names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkedArticle {
    /// A markdown file, by its path in the content folder: `[text](../help/other.md)`.
    File(String),
    /// An article page of the site, by article id: `/articles/other-id`, or a relative link that
    /// lands there.
    Page(String),
}

/// What a link target written in an article points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Leaves the site, stays on the page, or goes to a page that is not an article: kept.
    Other,
    /// Names an article (and maybe a heading in it): kept only when the reader may see it.
    Article(LinkedArticle, Option<String>),
    /// A `.md` target that resolves to no file of the content folder (it climbs out): dropped.
    Nowhere,
}

/// Classifies `target`, written in the article stored from `path` and shown at
/// `/articles/{id}`, the way a browser on that page would follow it.
pub fn classify_link(path: &str, id: &str, target: &str) -> Link {
    let target = target.trim();
    if target.is_empty() || is_external(target) || target.starts_with('#') {
        return Link::Other;
    }
    let (before_anchor, anchor) = match target.split_once('#') {
        Some((before, anchor)) => (before, Some(anchor.to_string())),
        None => (target, None),
    };
    let location = before_anchor
        .split_once('?')
        .map_or(before_anchor, |(location, _)| location);
    if location.to_ascii_lowercase().ends_with(".md") {
        // A site path to a `.md` file (`/kb/x.md`) names no page; a relative one a file.
        return match linked_path(path, location).filter(|_| !location.starts_with('/')) {
            Some((file, _)) => Link::Article(LinkedArticle::File(file), anchor),
            None => Link::Nowhere,
        };
    }
    let page = format!("{ARTICLE_PAGES}{id}");
    match site_path(&page, location)
        .strip_prefix(ARTICLE_PAGES)
        .filter(|rest| !rest.is_empty())
    {
        Some(linked_id) => Link::Article(LinkedArticle::Page(linked_id.to_string()), anchor),
        None => Link::Other,
    }
}

/// The absolute path a browser on `page` requests for the link `location` (no query or anchor),
/// with backslashes read as slashes and dot segments resolved, as browsers do.
fn site_path(page: &str, location: &str) -> String {
    let location = location.replace('\\', "/");
    let mut parts: Vec<&str> = Vec::new();
    if !location.starts_with('/') {
        parts.extend(page.split('/').filter(|p| !p.is_empty()));
        parts.pop();
    }
    for segment in location.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Resolves `target` (as written in the article at `path`) to the content-folder path it names.
/// Returns `None` for in-page anchors and links that do not point at a markdown file.
pub fn linked_path(path: &str, target: &str) -> Option<(String, Option<String>)> {
    if is_external(target) || target.starts_with('#') || target.starts_with('/') {
        return None;
    }
    let (file, anchor) = match target.split_once('#') {
        Some((file, anchor)) => (file, Some(anchor.to_string())),
        None => (target, None),
    };
    if !file.to_ascii_lowercase().ends_with(".md") {
        return None;
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for part in file.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some((parts.join("/"), anchor))
}

/// Renders `markdown` (the body of the article stored from `path`, shown at `/articles/{id}`)
/// to sanitised HTML. A leading `# heading` that repeats `title` is left out: the page shows the
/// title itself. `resolve` says where a link to an article (and its anchor) may point for this
/// reader; it is asked about markdown links and raw HTML `<a href>` alike.
pub fn article_html<R>(path: &str, id: &str, title: &str, markdown: &str, resolve: R) -> String
where
    R: Fn(&LinkedArticle, Option<&str>) -> LinkTarget + Send + Sync + 'static,
{
    let resolve = Arc::new(resolve);
    let mut events: Vec<Event<'_>> = markdown::anchored_events(markdown)
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    drop_title_heading(&mut events, title);
    // Page URLs this pass wrote: the sanitiser keeps them without asking `resolve` again.
    let mut written: HashSet<String> = HashSet::new();
    let mut dropped_links = Vec::new();
    let events = events.into_iter().filter_map(|event| match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id: link_id,
        }) => {
            let rewritten = match classify_link(path, id, &dest_url) {
                Link::Other => Some(dest_url),
                Link::Nowhere => None,
                Link::Article(article, anchor) => match resolve(&article, anchor.as_deref()) {
                    LinkTarget::Page(url) => {
                        written.insert(url.clone());
                        Some(CowStr::from(url))
                    }
                    LinkTarget::Drop => None,
                },
            };
            dropped_links.push(rewritten.is_none());
            rewritten.map(|dest_url| {
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id: link_id,
                })
            })
        }
        Event::End(TagEnd::Link) => {
            let dropped = dropped_links.pop().unwrap_or(false);
            (!dropped).then_some(Event::End(TagEnd::Link))
        }
        other => Some(other),
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    let (path, id) = (path.to_string(), id.to_string());
    // Raw HTML links (`<a href="other.md">`) meet the same rules here, after parsing.
    let href = move |value: &str| -> Option<String> {
        if written.contains(value) {
            return Some(value.to_string());
        }
        match classify_link(&path, &id, value) {
            Link::Other => Some(value.to_string()),
            Link::Nowhere => None,
            Link::Article(article, anchor) => match resolve(&article, anchor.as_deref()) {
                LinkTarget::Page(url) => Some(url),
                LinkTarget::Drop => None,
            },
        }
    };
    clean(&html, href)
}

/// Removes the first level-1 heading when its text is the title.
fn drop_title_heading(events: &mut Vec<Event<'_>>, title: &str) {
    let Some(start) = events.iter().position(|e| {
        matches!(
            e,
            Event::Start(Tag::Heading {
                level: HeadingLevel::H1,
                ..
            })
        )
    }) else {
        return;
    };
    let Some(length) = events[start..]
        .iter()
        .position(|e| matches!(e, Event::End(TagEnd::Heading(_))))
    else {
        return;
    };
    let text: String = events[start..start + length]
        .iter()
        .filter_map(|e| match e {
            Event::Text(t) | Event::Code(t) => Some(t.as_ref()),
            _ => None,
        })
        .collect();
    if text.trim() == title.trim() {
        events.drain(start..=start + length);
    }
}

/// Keeps the HTML that markdown produces (with heading ids and code language classes) and
/// removes everything that could run code.
pub fn sanitize(html: &str) -> String {
    clean(html, |value: &str| Some(value.to_string()))
}

/// [`sanitize`], with every `href` that survives passed through `href` (`None` removes it).
fn clean(html: &str, href: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> String {
    let headings = ["h1", "h2", "h3", "h4", "h5", "h6"];
    let mut builder = ammonia::Builder::default();
    for heading in headings {
        builder.add_tag_attributes(heading, &["id"]);
    }
    builder
        .add_tag_attributes("code", &["class"])
        .add_tag_attributes("blockquote", &["class"])
        .add_tag_attributes("input", &["type", "checked", "disabled"])
        .add_tags(&["input"])
        .id_prefix(None::<&str>)
        .link_rel(Some("noopener noreferrer"))
        .attribute_filter(move |_element, attribute, value| match attribute {
            "href" => href(value).map(Cow::Owned),
            _ => Some(Cow::Borrowed(value)),
        });
    builder.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links_resolve_against_the_article_folder() {
        assert_eq!(
            linked_path("articles/a.md", "b.md#fix"),
            Some(("articles/b.md".to_string(), Some("fix".to_string())))
        );
        assert_eq!(
            linked_path("articles/a.md", "../help/c.md"),
            Some(("help/c.md".to_string(), None))
        );
        assert_eq!(linked_path("articles/a.md", "#local"), None);
        assert_eq!(linked_path("articles/a.md", "https://x.org/a.md"), None);
        assert_eq!(linked_path("a.md", "../../x.md"), None);
    }

    #[test]
    fn scripts_handlers_and_javascript_links_never_survive() {
        let markdown = "# T\n\n<script>alert(1)</script>\n\n<img src=x onerror=\"alert(2)\">\n\n[click](javascript:alert(3)) <a href=\"javascript:alert(4)\" onclick=\"x()\">a</a>\n\n## Steps\n\n```powershell\nGet-Item\n```\n";
        let html = article_html("articles/a.md", "a", "T", markdown, |_, _| LinkTarget::Drop);
        assert!(
            !html.contains("<h1"),
            "the title heading is shown by the page: {html}"
        );
        for bad in ["<script", "onerror", "onclick", "javascript:", "alert(1)"] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("<h2 id=\"steps\">Steps</h2>"), "{html}");
        assert!(html.contains("class=\"language-powershell\""), "{html}");
    }

    /// Resolves `articles/b.md` and the page `b-id` to `/articles/b-id`; everything else is hidden.
    fn only_b(article: &LinkedArticle, anchor: Option<&str>) -> LinkTarget {
        let fragment = anchor.map(|a| format!("#{a}")).unwrap_or_default();
        match article {
            LinkedArticle::File(path) if path == "articles/b.md" => {
                LinkTarget::Page(format!("/articles/b-id{fragment}"))
            }
            LinkedArticle::Page(id) if id == "b-id" => {
                LinkTarget::Page(format!("/articles/b-id{fragment}"))
            }
            _ => LinkTarget::Drop,
        }
    }

    #[test]
    fn links_to_articles_are_rewritten_or_dropped() {
        let markdown =
            "See [b](b.md#resolution) and [secret](secret.md) and [site](https://example.com).";
        let html = article_html("articles/a.md", "a", "A", markdown, only_b);
        assert!(
            html.contains("<a href=\"/articles/b-id#resolution\""),
            "{html}"
        );
        assert!(html.contains("and secret and"), "{html}");
        assert!(
            html.contains("href=\"https://example.com\" rel=\"noopener noreferrer\""),
            "{html}"
        );
    }

    #[test]
    fn every_spelling_of_a_link_to_a_hidden_article_is_dropped() {
        let markdown = "[one](/articles/secret-id) [two](secret-id#x) [three](./secret-id?a=1) \
                        [four](../articles/secret-id) [five](/kb/secret.md) [six](../../secret.md) \
                        <a href=\"secret.md\">seven</a> <a href=\"/articles/secret-id\">eight</a>\n\n\
                        <a href=\"b.md#fix\">nine</a> [ten](/articles/b-id) [eleven](/case) \
                        [twelve](#local)";
        let html = article_html("articles/a.md", "a", "A", markdown, only_b);
        assert!(!html.contains("secret"), "{html}");
        for text in [
            "one", "two", "three", "four", "five", "six", "seven", "eight",
        ] {
            assert!(html.contains(text), "{text}: {html}");
        }
        assert!(html.contains("<a href=\"/articles/b-id#fix\""), "{html}");
        assert!(html.contains("<a href=\"/articles/b-id\""), "{html}");
        assert!(html.contains("<a href=\"/case\""), "{html}");
        assert!(html.contains("<a href=\"#local\""), "{html}");
    }

    #[test]
    fn links_are_classified_as_a_browser_on_the_page_follows_them() {
        let page = |id: &str| Link::Article(LinkedArticle::Page(id.to_string()), None);
        let classify = |target: &str| classify_link("articles/a.md", "guides/a", target);
        assert_eq!(classify("b"), page("guides/b"));
        assert_eq!(classify("../b"), page("b"));
        assert_eq!(classify("..\\..\\articles\\c"), page("c"));
        assert_eq!(classify("/articles/d?x=1"), page("d"));
        assert_eq!(
            classify("e.md#fix"),
            Link::Article(
                LinkedArticle::File("articles/e.md".to_string()),
                Some("fix".to_string())
            )
        );
        assert_eq!(classify("/"), Link::Other);
        assert_eq!(classify("/articles/"), Link::Other);
        assert_eq!(classify("../../case"), Link::Other);
        assert_eq!(classify("mailto:a@b.c"), Link::Other);
        assert_eq!(classify("/x/e.md"), Link::Nowhere);
    }
}
