//! Article pages: markdown to safe HTML. Headings carry the anchors `markdown::anchored_events`
//! assigns (the ones search results link to); links to other articles are rewritten to their
//! pages, or reduced to plain text when the reader may not see the target; and the HTML is
//! sanitised with ammonia, because raw HTML in markdown passes through pulldown-cmark untouched
//! (`<script>`, `javascript:` links and event attributes never reach the browser).

use pulldown_cmark::{CowStr, Event, HeadingLevel, Tag, TagEnd};

use crate::content::markdown::{self, is_external};

/// Where a link to another article should point.
pub enum LinkTarget {
    /// The target's page URL.
    Page(String),
    /// The target is missing or hidden from this reader: keep the link text, drop the link.
    Drop,
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

/// Renders `markdown` (the body of the article stored from `path`) to sanitised HTML.
/// A leading `# heading` that repeats `title` is left out: the page shows the title itself.
/// `resolve` maps the content path of a linked article (and its anchor) to a [`LinkTarget`].
pub fn article_html(
    path: &str,
    title: &str,
    markdown: &str,
    resolve: impl Fn(&str, Option<&str>) -> LinkTarget,
) -> String {
    let mut events: Vec<Event<'_>> = markdown::anchored_events(markdown)
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    drop_title_heading(&mut events, title);
    let mut dropped_links = Vec::new();
    let events = events.into_iter().filter_map(|event| match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let rewritten = match linked_path(path, &dest_url) {
                None => Some(dest_url),
                Some((target, anchor)) => match resolve(&target, anchor.as_deref()) {
                    LinkTarget::Page(url) => Some(CowStr::from(url)),
                    LinkTarget::Drop => None,
                },
            };
            dropped_links.push(rewritten.is_none());
            rewritten.map(|dest_url| {
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
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
    sanitize(&html)
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
        .link_rel(Some("noopener noreferrer"));
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
        let html = article_html("articles/a.md", "T", markdown, |_, _| LinkTarget::Drop);
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

    #[test]
    fn links_to_articles_are_rewritten_or_dropped() {
        let markdown =
            "See [b](b.md#resolution) and [secret](secret.md) and [site](https://example.com).";
        let html = article_html("articles/a.md", "A", markdown, |path, anchor| match path {
            "articles/b.md" => {
                LinkTarget::Page(format!("/articles/b-id#{}", anchor.unwrap_or_default()))
            }
            _ => LinkTarget::Drop,
        });
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
}
