//! The dashboard's tables, each one value that the page draws as HTML and the download writes as
//! CSV, so that the two never disagree.

use serde::Serialize;

/// One cell: its text, and where it links to on the page (the CSV keeps the text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub text: String,
    pub link: Option<String>,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            link: None,
        }
    }

    pub fn link(text: impl Into<String>, link: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            link: Some(link.into()),
        }
    }
}

impl From<u64> for Cell {
    fn from(n: u64) -> Cell {
        Cell::text(n.to_string())
    }
}

/// A table of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Its name in the download's URL (`/insights/{id}.csv`) and the page's anchors.
    pub id: &'static str,
    pub caption: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// The table as CSV (RFC 4180, a header row first). A cell that a spreadsheet would read as a
    /// formula (`=`, `+`, `-`, `@`, a tab or a carriage return first: customers type the queries
    /// and comments) is prefixed with an apostrophe, as OWASP advises against CSV injection.
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&self.columns)?;
        for row in &self.rows {
            writer.write_record(row.iter().map(|cell| defused(&cell.text)))?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|err| csv::Error::from(err.into_error()))?;
        Ok(String::from_utf8(bytes).expect("the writer was given strings"))
    }
}

/// A cell's text as a spreadsheet may safely read it.
fn defused(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if text.parse::<f64>().is_err() => {
            format!("'{text}")
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let table = Table {
            id: "queries",
            caption: "Queries",
            columns: vec!["query", "searches"],
            rows: vec![
                vec![Cell::link("vpn, \"split\" tunnel", "/?q=vpn"), 3.into()],
                vec![Cell::text("=HYPERLINK(\"http://x\")"), 2.into()],
                vec![Cell::text("@SUM(A1)"), 1.into()],
                vec![Cell::text("-5"), 1.into()],
                vec![Cell::text("line\nbreak"), 1.into()],
            ],
        };
        let csv = table.to_csv().unwrap();
        assert_eq!(
            csv,
            "query,searches\n\
             \"vpn, \"\"split\"\" tunnel\",3\n\
             \"'=HYPERLINK(\"\"http://x\"\")\",2\n\
             '@SUM(A1),1\n\
             -5,1\n\
             \"line\nbreak\",1\n"
        );
    }
}
