//! The tantivy schema: which article fields are searched, filtered, sorted or only stored, and
//! how an [`Article`] becomes a document. The schema carries a version; an index written with
//! another version is rebuilt rather than read.

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{DateTime, Index, TantivyDocument};

use crate::content::article::{Article, Status, Visibility};
use crate::index::analysis::{self, INDEX_ANALYZER, VOCAB_ANALYZER};

/// Bump when fields, analysis or document building change: older indexes are then rebuilt.
pub const SCHEMA_VERSION: u32 = 5;

/// How many times the title is counted in [`KbSchema::all`]: a BM25F-style title weight
/// (tuned on SciFact train and `kb/judgments.tsv`; see `crate::search::rank`).
pub const TITLE_REPEAT: usize = 2;

/// Room in a document's buffer for what [`KbSchema::document`] does not count: each value's
/// length prefix, the keyword fields, dates and numbers.
const DOCUMENT_SLACK_BYTES: usize = 512;

/// The fast field holding [`id_key`] of each document.
pub const ID_KEY_FIELD: &str = "id_key";

/// The order key of an article id: the first 8 bytes of its BLAKE3 hash. Equal keys for two ids
/// are as likely as a 64-bit collision.
pub fn id_key(id: &str) -> u64 {
    let hash = blake3::hash(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_be_bytes(first)
}

/// Handles to every field of the schema.
#[derive(Debug, Clone)]
pub struct KbSchema {
    pub schema: Schema,
    pub id: Field,
    pub path: Field,
    pub title: Field,
    pub headings: Field,
    pub keywords: Field,
    /// Body text, stored for snippets (it is searched through [`KbSchema::all`]).
    pub body: Field,
    /// Everything searchable in one field (title repeated, headings, keywords, body, code):
    /// one BM25 over the whole article ranks better than a sum of per-field BM25s.
    pub all: Field,
    /// Every word as written (lowercased, not stemmed), indexed for its term dictionary only:
    /// the source of typo corrections, prefix completions and suggestions.
    pub vocab: Field,
    /// Title, headings and keywords of published articles, per audience that may see them
    /// (indexed by `Visibility as usize`): suggestions come from here and never leak.
    pub suggest: [Field; 3],
    /// The file as read (front matter and body), stored so article pages render the indexed
    /// (last good) version and the indexer can rebuild it under a narrower visibility or status.
    pub source: Field,
    pub kind: Field,
    pub product: Field,
    pub versions: Field,
    pub tags: Field,
    pub visibility: Field,
    pub status: Field,
    pub updated: Field,
    pub summary: Field,
    /// JSON of the headings with anchors and body offsets, for deep links.
    pub sections: Field,
    /// JSON of the links, images and ranking queries, for checks and the preview.
    pub extras: Field,
    pub fingerprint: Field,
    /// A hash of the id, the last key of every result order: equal scores come out in the same
    /// order on every index of the same content, whatever else it holds or its segments.
    pub id_key: Field,
    /// Set (fast field only) on a last good version the indexer holds under a narrower visibility
    /// or status than its source says, because its file now fails: such a file is parsed again
    /// whatever its bytes.
    pub restricted: Field,
}

impl Default for KbSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl KbSchema {
    pub fn new() -> Self {
        let mut builder = Schema::builder();
        let text = |stored: bool, record: IndexRecordOption| {
            let indexing = TextFieldIndexing::default()
                .set_tokenizer(INDEX_ANALYZER)
                .set_index_option(record);
            let options = TextOptions::default().set_indexing_options(indexing);
            if stored {
                options.set_stored()
            } else {
                options
            }
        };
        let positions = IndexRecordOption::WithFreqsAndPositions;
        let keyword = STRING | STORED | FAST;
        let id = builder.add_text_field("id", keyword.clone());
        let path = builder.add_text_field("path", keyword.clone());
        let title = builder.add_text_field("title", text(true, positions).set_fast("raw"));
        let headings = builder.add_text_field("headings", text(true, positions));
        let keywords = builder.add_text_field("keywords", text(true, positions));
        let body = builder.add_text_field("body", STORED);
        let all = builder.add_text_field("all", text(false, positions));
        let vocab_indexing = TextFieldIndexing::default()
            .set_tokenizer(VOCAB_ANALYZER)
            .set_index_option(IndexRecordOption::Basic);
        let vocab = builder.add_text_field(
            "vocab",
            TextOptions::default().set_indexing_options(vocab_indexing),
        );
        let suggest = ["suggest_public", "suggest_customer", "suggest_internal"].map(|name| {
            let indexing = TextFieldIndexing::default()
                .set_tokenizer(VOCAB_ANALYZER)
                .set_index_option(IndexRecordOption::Basic);
            builder.add_text_field(name, TextOptions::default().set_indexing_options(indexing))
        });
        let source = builder.add_text_field("source", STORED);
        let kind = builder.add_text_field("type", keyword.clone());
        let product = builder.add_text_field("product", keyword.clone());
        let versions = builder.add_text_field("versions", keyword.clone());
        let tags = builder.add_text_field("tags", keyword.clone());
        let visibility = builder.add_text_field("visibility", keyword.clone());
        let status = builder.add_text_field("status", keyword);
        let updated = builder.add_date_field("updated", INDEXED | STORED | FAST);
        let summary = builder.add_text_field("summary", STORED);
        let sections = builder.add_text_field("sections", STORED);
        let extras = builder.add_text_field("extras", STORED);
        let fingerprint = builder.add_u64_field("fingerprint", INDEXED | STORED | FAST);
        let id_key = builder.add_u64_field(ID_KEY_FIELD, FAST);
        let restricted = builder.add_bool_field("restricted", FAST);
        KbSchema {
            schema: builder.build(),
            id,
            path,
            title,
            headings,
            keywords,
            body,
            all,
            vocab,
            suggest,
            source,
            kind,
            product,
            versions,
            tags,
            visibility,
            status,
            updated,
            summary,
            sections,
            extras,
            fingerprint,
            id_key,
            restricted,
        }
    }

    /// Registers the analyzers the schema names; needed on every index opened or created.
    pub fn register_analyzers(index: &Index) {
        index
            .tokenizers()
            .register(INDEX_ANALYZER, analysis::index_analyzer());
        index
            .tokenizers()
            .register(VOCAB_ANALYZER, analysis::vocab_analyzer());
    }

    /// Builds the document stored for `article`, tagged with its file's `fingerprint`.
    pub fn document(&self, article: &Article, fingerprint: u64) -> TantivyDocument {
        let headings: Vec<&str> = article.headings.iter().map(|h| h.text.as_str()).collect();
        let headings = headings.join("\n");
        let mut keywords = article.keywords.join("\n");
        for tag in &article.tags {
            keywords.push('\n');
            keywords.push_str(tag);
        }
        let sections =
            serde_json::to_string(&article.headings).expect("headings serialize to JSON");
        let extras = serde_json::json!({
            "links": article.links,
            "images": article.images,
            "queries": article.queries,
        })
        .to_string();
        let audiences: Vec<Visibility> = if article.status == Status::Published {
            Visibility::ALL
                .iter()
                .copied()
                .filter(|a| *a >= article.visibility)
                .collect()
        } else {
            Vec::new()
        };
        // The document copies every value into one buffer: sized once, it is not grown (and
        // copied, on fresh pages the kernel must zero) value after value.
        let copies_of_title = 3 + TITLE_REPEAT + audiences.len();
        let copies_of_outline = 3 + audiences.len();
        let bytes = copies_of_title * article.title.len()
            + copies_of_outline * (headings.len() + keywords.len())
            + 3 * article.text.len()
            + article.code.len()
            + article.source.len()
            + article.summary.len()
            + sections.len()
            + extras.len()
            + article.id.len()
            + article.path.len()
            + article
                .tags
                .iter()
                .chain(&article.versions)
                .map(String::len)
                .sum::<usize>()
            + DOCUMENT_SLACK_BYTES;
        let mut doc = TantivyDocument::with_capacity(bytes);
        doc.add_text(self.id, &article.id);
        doc.add_text(self.path, &article.path);
        doc.add_text(self.title, &article.title);
        doc.add_text(self.headings, &headings);
        for _ in 0..TITLE_REPEAT {
            doc.add_text(self.all, &article.title);
        }
        doc.add_text(self.all, &headings);
        doc.add_text(self.all, &keywords);
        doc.add_text(self.all, &article.text);
        doc.add_text(self.all, &article.code);
        doc.add_text(self.vocab, &article.title);
        doc.add_text(self.vocab, &headings);
        doc.add_text(self.vocab, &keywords);
        doc.add_text(self.vocab, &article.text);
        for audience in audiences {
            let field = self.suggest[audience as usize];
            doc.add_text(field, &article.title);
            doc.add_text(field, &headings);
            doc.add_text(field, &keywords);
        }
        doc.add_text(self.keywords, keywords);
        doc.add_text(self.body, &article.text);
        doc.add_text(self.source, &article.source);
        doc.add_text(self.kind, article.kind.as_str());
        if let Some(product) = &article.product {
            doc.add_text(self.product, product);
        }
        for version in &article.versions {
            doc.add_text(self.versions, version);
        }
        for tag in &article.tags {
            doc.add_text(self.tags, tag);
        }
        doc.add_text(self.visibility, article.visibility.as_str());
        doc.add_text(self.status, article.status.as_str());
        let updated = article
            .updated
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists on every day")
            .and_utc()
            .timestamp();
        doc.add_date(self.updated, DateTime::from_timestamp_secs(updated));
        doc.add_text(self.summary, &article.summary);
        doc.add_text(self.sections, sections);
        doc.add_text(self.extras, extras);
        doc.add_u64(self.fingerprint, fingerprint);
        doc.add_u64(self.id_key, id_key(&article.id));
        doc
    }
}
