//! Markdown bodies: one pass over pulldown-cmark events that yields what search needs — plain
//! text, code, headings with stable anchors, links and images. The anchors are assigned here and
//! only here ([`anchored_events`]), so the article page and the search results link to the same
//! `#fragment`.

use std::collections::HashMap;
use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};

use crate::content::problem::line_of_offset;

/// A heading of the body, with the anchor its section is linked by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heading {
    pub level: u8,
    pub text: String,
    pub anchor: String,
    /// Byte offset in [`Extract::text`] where the section under this heading starts.
    pub text_offset: usize,
    /// 1-based line of the heading in the file.
    pub line: usize,
}

/// A link or image target found in the body, with the file line it is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    pub target: String,
    pub line: usize,
}

/// Everything search and checks take from a markdown body.
#[derive(Debug, Default, Clone)]
pub struct Extract {
    /// Body text without headings or code blocks; inline code stays in.
    pub text: String,
    /// Contents of fenced and indented code blocks.
    pub code: String,
    pub headings: Vec<Heading>,
    /// Links that stay on this site (relative paths and in-page anchors).
    pub links: Vec<Reference>,
    pub images: Vec<Reference>,
    pub first_paragraph: Option<String>,
    /// Numbered lists that start at another number than 1, with their line: almost always a
    /// list broken by a step's code block or paragraph not indented under the step.
    pub restarted_lists: Vec<(usize, u64)>,
}

impl Extract {
    /// The first level-1 heading, the title fallback.
    pub fn first_h1(&self) -> Option<&Heading> {
        self.headings.iter().find(|h| h.level == 1)
    }
}

/// The parser options shared by indexing and rendering. Metadata blocks stay off on purpose:
/// front matter is split off before this point (see `front_matter`).
pub fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_GFM
}

/// Turns heading text into an anchor the way GitHub (and DocFX) do, because writers link to
/// sections with the anchors their repository shows them: lowercase; letters, digits, `-` and `_`
/// kept; each space becomes `-`; everything else dropped. So `MAX_PATH` stays `max_path` and
/// `don't` becomes `dont` (a general-purpose slugger gives `max-path` and `don-t`, and such links
/// would break).
pub fn slugify(text: &str) -> String {
    let slug: String = text
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect();
    if slug.is_empty() {
        "section".to_string()
    } else {
        slug
    }
}

/// Hands out unique anchors within one article: `x`, then `x-1`, `x-2` (mdBook's convention).
#[derive(Default)]
struct AnchorAllocator {
    used: HashMap<String, usize>,
}

impl AnchorAllocator {
    fn allocate(&mut self, wanted: &str) -> String {
        let mut candidate = wanted.to_string();
        while let Some(count) = self.used.get_mut(&candidate) {
            *count += 1;
            candidate = format!("{wanted}-{}", *count - 1);
        }
        self.used.insert(candidate.clone(), 1);
        candidate
    }
}

/// Parses `body` and gives every heading its anchor (an explicit `{#id}` wins, else the slug of
/// its text, de-duplicated). Both the indexer and the page renderer read events from here.
pub fn anchored_events(body: &str) -> Vec<(Event<'_>, Range<usize>)> {
    let mut events: Vec<(Event<'_>, Range<usize>)> = Parser::new_ext(body, options())
        .into_offset_iter()
        .collect();
    let mut anchors = AnchorAllocator::default();
    let mut index = 0;
    while index < events.len() {
        if let (Event::Start(Tag::Heading { id, .. }), _) = &events[index] {
            let wanted = match id {
                Some(explicit) => explicit.to_string(),
                None => {
                    let end = events[index..]
                        .iter()
                        .position(|(e, _)| matches!(e, Event::End(TagEnd::Heading(_))))
                        .map_or(events.len(), |p| index + p);
                    slugify(&inline_text(&events[index + 1..end]))
                }
            };
            let anchor = anchors.allocate(&wanted);
            if let (Event::Start(Tag::Heading { id, .. }), _) = &mut events[index] {
                *id = Some(CowStr::from(anchor));
            }
        }
        index += 1;
    }
    events
}

/// The visible text of a run of inline events.
fn inline_text(events: &[(Event<'_>, Range<usize>)]) -> String {
    let mut text = String::new();
    for (event, _) in events {
        match event {
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) => text.push_str(t),
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            _ => {}
        }
    }
    text
}

fn level_number(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// True for targets that leave the site: `https:`, `mailto:`, protocol-relative `//host`.
pub fn is_external(target: &str) -> bool {
    if target.starts_with("//") {
        return true;
    }
    match target.find(':') {
        Some(colon) => {
            let scheme = &target[..colon];
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !target[..colon].contains('/')
        }
        None => false,
    }
}

/// Where the text currently being read goes.
enum Sink {
    Body,
    Heading {
        level: u8,
        anchor: String,
        text: String,
        line: usize,
    },
    Code,
}

/// Extracts text, code, headings and references from a markdown body. `first_line` is the file
/// line the body starts on, so that references carry file lines.
pub fn extract(body: &str, first_line: usize) -> Extract {
    let mut out = Extract::default();
    let mut sink = Sink::Body;
    let mut paragraph: Option<String> = None;
    let file_line = |offset: usize| first_line + line_of_offset(body, offset) - 1;
    for (event, range) in anchored_events(body) {
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => {
                sink = Sink::Heading {
                    level: level_number(level),
                    anchor: id.map(|id| id.to_string()).unwrap_or_default(),
                    text: String::new(),
                    line: file_line(range.start),
                };
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Sink::Heading {
                    level,
                    anchor,
                    text,
                    line,
                } = std::mem::replace(&mut sink, Sink::Body)
                {
                    out.headings.push(Heading {
                        level,
                        text: text.trim().to_string(),
                        anchor,
                        text_offset: out.text.len(),
                        line,
                    });
                }
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                if let CodeBlockKind::Fenced(lang) = &kind
                    && !lang.is_empty()
                {
                    out.code.push_str(lang);
                    out.code.push('\n');
                }
                sink = Sink::Code;
            }
            Event::End(TagEnd::CodeBlock) => {
                out.code.push('\n');
                sink = Sink::Body;
            }
            Event::Start(Tag::Paragraph) if out.first_paragraph.is_none() => {
                paragraph = Some(String::new());
            }
            Event::End(TagEnd::Paragraph) => {
                if let Some(text) = paragraph.take() {
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !text.is_empty() {
                        out.first_paragraph = Some(text);
                    }
                }
                out.text.push('\n');
            }
            Event::Start(Tag::Link { dest_url, .. })
                if !is_external(&dest_url) && !dest_url.is_empty() =>
            {
                out.links.push(Reference {
                    target: dest_url.to_string(),
                    line: file_line(range.start),
                });
            }
            Event::Start(Tag::Image { dest_url, .. }) => {
                out.images.push(Reference {
                    target: dest_url.to_string(),
                    line: file_line(range.start),
                });
            }
            Event::Start(Tag::List(Some(start))) if start != 1 => {
                out.restarted_lists.push((file_line(range.start), start));
                push_text(&mut sink, &mut out, &mut paragraph, "\n");
            }
            // Block boundaries separate words: `**fixes**` followed by a nested list item must
            // not read as `fixesMaintain`.
            Event::Start(Tag::Item | Tag::List(_) | Tag::TableCell | Tag::BlockQuote(_)) => {
                push_text(&mut sink, &mut out, &mut paragraph, "\n");
            }
            Event::End(
                TagEnd::Item
                | TagEnd::TableCell
                | TagEnd::TableRow
                | TagEnd::BlockQuote(_)
                | TagEnd::FootnoteDefinition
                | TagEnd::DefinitionListTitle
                | TagEnd::DefinitionListDefinition,
            ) => push_text(&mut sink, &mut out, &mut paragraph, "\n"),
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                push_text(&mut sink, &mut out, &mut paragraph, &t);
            }
            Event::SoftBreak | Event::HardBreak => {
                push_text(&mut sink, &mut out, &mut paragraph, "\n");
            }
            _ => {}
        }
    }
    out
}

fn push_text(sink: &mut Sink, out: &mut Extract, paragraph: &mut Option<String>, text: &str) {
    match sink {
        Sink::Body => {
            out.text.push_str(text);
            if let Some(p) = paragraph.as_mut() {
                p.push_str(text);
            }
        }
        Sink::Heading { text: heading, .. } => heading.push_str(text),
        Sink::Code => out.code.push_str(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_headings_get_numbered_anchors() {
        let extract = extract(
            "# Title\n\n## Steps\n\nA\n\n## Steps\n\nB\n\n## Über `x` {#custom}\n",
            1,
        );
        let anchors: Vec<&str> = extract.headings.iter().map(|h| h.anchor.as_str()).collect();
        assert_eq!(anchors, ["title", "steps", "steps-1", "custom"]);
    }

    #[test]
    fn text_code_and_links_are_separated() {
        let body = "# T\n\nFirst `ERR_X` para.\nline two.\n\n```text\nERROR 0x80070005\n```\n\n[a](other.md#fix) [b](https://x.org) ![i](img/a.png)\n";
        let extract = extract(body, 5);
        assert!(extract.text.contains("First ERR_X para.\nline two."));
        assert!(!extract.text.contains("0x80070005"));
        assert!(extract.code.contains("ERROR 0x80070005"));
        assert_eq!(
            extract.first_paragraph.as_deref(),
            Some("First ERR_X para. line two.")
        );
        assert_eq!(extract.links.len(), 1);
        assert_eq!(extract.links[0].target, "other.md#fix");
        assert_eq!(extract.links[0].line, 5 + 9);
        assert_eq!(extract.images[0].target, "img/a.png");
    }

    #[test]
    fn nested_list_items_do_not_glue_words() {
        let extract = extract("- **Record fixes**\n    - Maintain a log\n", 1);
        assert!(extract.text.contains("fixes\n"), "{:?}", extract.text);
    }

    #[test]
    fn thematic_breaks_keep_the_text_after_them() {
        let extract = extract("intro\n\n---\n\nmiddle text\n\n---\n\nend text\n", 1);
        assert!(extract.text.contains("middle text"));
        assert!(extract.text.contains("end text"));
    }

    #[test]
    fn external_targets_are_recognised() {
        assert!(is_external("https://example.com"));
        assert!(is_external("mailto:a@b.c"));
        assert!(is_external("//cdn.example.com/x"));
        assert!(!is_external("other.md#x"));
        assert!(!is_external("../help/a.md"));
        assert!(!is_external("#local"));
    }
}
