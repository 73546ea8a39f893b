//! The product catalog from `kb/products.toml`: which products and versions exist, when each was
//! released and when its general support ends. Articles are checked against it, version filters
//! are normalised with it, and results are marked with the support status it gives.

use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::content::problem::{Problem, line_of_offset, load_optional};

/// File name of the catalog inside the content folder.
pub const PRODUCTS_FILE: &str = "products.toml";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductsFile {
    #[serde(default)]
    products: Vec<Product>,
}

/// One product and its released versions.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub name: String,
    #[serde(default)]
    pub versions: Vec<ProductVersion>,
}

/// One release of a product.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProductVersion {
    pub version: String,
    pub released: Option<toml::value::Date>,
    /// Last day of general support; absent while not yet announced.
    pub support_ends: Option<toml::value::Date>,
}

/// Where a version stands in its lifecycle on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportStatus {
    Supported,
    EndOfSupport,
    Unreleased,
    Unknown,
}

/// All products of the knowledge base.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub products: Vec<Product>,
}

fn to_naive(date: &toml::value::Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        i32::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )
}

impl Catalog {
    /// Loads `products.toml` from the content folder. A missing file is an empty catalog; a broken
    /// one is reported and also yields an empty catalog, so articles still index.
    pub fn load(kb_root: &Path) -> (Catalog, Vec<Problem>) {
        load_optional(kb_root, PRODUCTS_FILE, Catalog::parse)
    }

    /// Parses the text of a `products.toml`.
    pub fn parse(text: &str) -> Result<Catalog, Problem> {
        let file: ProductsFile = toml::from_str(text).map_err(|err| {
            let line = err.span().map(|span| line_of_offset(text, span.start));
            Problem::error(
                PRODUCTS_FILE,
                line,
                format!("does not parse: {}", err.message()),
            )
        })?;
        Ok(Catalog {
            products: file.products,
        })
    }

    /// The product articles belong to when their front matter names none.
    pub fn default_product(&self) -> Option<&str> {
        match self.products.as_slice() {
            [only] => Some(only.name.as_str()),
            _ => None,
        }
    }

    pub fn product(&self, name: &str) -> Option<&Product> {
        self.products
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Maps a version as written (`7.7`, `v7.7.0`) to the catalog's spelling (`7.7.0`), if known.
    ///
    /// Looks in `product` when given, else in every product. A short form matches when exactly one
    /// catalog version extends it (`7.7` → `7.7.0`).
    pub fn canonical_version(&self, product: Option<&str>, written: &str) -> Option<String> {
        let wanted = written.trim().trim_start_matches(['v', 'V']);
        let candidates: Vec<&ProductVersion> = self
            .products
            .iter()
            .filter(|p| product.is_none_or(|name| p.name.eq_ignore_ascii_case(name)))
            .flat_map(|p| p.versions.iter())
            .collect();
        if let Some(exact) = candidates.iter().find(|v| v.version == wanted) {
            return Some(exact.version.clone());
        }
        let prefix = format!("{wanted}.");
        let mut extending = candidates.iter().filter(|v| v.version.starts_with(&prefix));
        match (extending.next(), extending.next()) {
            (Some(only), None) => Some(only.version.clone()),
            _ => None,
        }
    }

    /// All versions known to the catalog, newest release first within each product.
    pub fn all_versions(&self) -> Vec<String> {
        self.products
            .iter()
            .flat_map(|p| p.versions.iter().map(|v| v.version.clone()))
            .collect()
    }

    /// The last day of general support of `version`, when announced.
    pub fn support_ends(&self, version: &str) -> Option<NaiveDate> {
        self.products
            .iter()
            .flat_map(|p| p.versions.iter())
            .find(|v| v.version == version)
            .and_then(|v| v.support_ends.as_ref())
            .and_then(to_naive)
    }

    /// The support status of `version` on `today`.
    pub fn support_status(&self, version: &str, today: NaiveDate) -> SupportStatus {
        let Some(release) = self
            .products
            .iter()
            .flat_map(|p| p.versions.iter())
            .find(|v| v.version == version)
        else {
            return SupportStatus::Unknown;
        };
        if let Some(released) = release.released.as_ref().and_then(to_naive)
            && today < released
        {
            return SupportStatus::Unreleased;
        }
        match release.support_ends.as_ref().and_then(to_naive) {
            Some(ends) if today > ends => SupportStatus::EndOfSupport,
            _ => SupportStatus::Supported,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[[products]]
name = "StorageX"
[[products.versions]]
version = "7.8.0"
released = 2016-08-01
[[products.versions]]
version = "7.7.0"
released = 2015-11-01
support_ends = 2017-05-31
"#;

    #[test]
    fn short_versions_map_to_catalog_spelling() {
        let catalog = Catalog::parse(SAMPLE).unwrap();
        assert_eq!(
            catalog.canonical_version(None, "7.7").as_deref(),
            Some("7.7.0")
        );
        assert_eq!(
            catalog.canonical_version(None, "v7.8.0").as_deref(),
            Some("7.8.0")
        );
        assert_eq!(catalog.canonical_version(None, "7.9"), None);
        assert_eq!(catalog.default_product(), Some("StorageX"));
    }

    #[test]
    fn support_status_follows_the_dates() {
        let catalog = Catalog::parse(SAMPLE).unwrap();
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            catalog.support_status("7.7.0", day("2017-05-31")),
            SupportStatus::Supported
        );
        assert_eq!(
            catalog.support_status("7.7.0", day("2017-06-01")),
            SupportStatus::EndOfSupport
        );
        assert_eq!(
            catalog.support_status("7.8.0", day("2026-11-26")),
            SupportStatus::Supported
        );
        assert_eq!(
            catalog.support_status("7.8.0", day("2016-01-01")),
            SupportStatus::Unreleased
        );
        assert_eq!(
            catalog.support_status("1.0", day("2016-01-01")),
            SupportStatus::Unknown
        );
    }

    #[test]
    fn broken_catalog_names_the_line() {
        let err = Catalog::parse("[[products]]\nname = \n").unwrap_err();
        assert_eq!(err.path, PRODUCTS_FILE);
        assert_eq!(err.line, Some(2));
    }
}
