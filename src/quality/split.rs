//! One fixed split of the judged data into a fitting part and a test part. Every weight,
//! threshold and calibration is tuned on the fitting part; the test part is the headline figure,
//! since a figure measured on the data a setting was fitted to flatters it. The split is by a
//! hash of each item's key (a draft's id, a query's text) with a fixed seed, so it never moves:
//! adding judged items adds to both parts and changes no item's side.

use serde::Serialize;

/// The seed of the split. Changing it re-deals every item: never do it to improve a figure.
const SPLIT_SEED: &str = "kbsearch judged-data split 2026-12-04";

/// Which part of the judged data an evaluation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// What weights and thresholds are fitted on.
    Fit,
    /// What is reported: never used for fitting.
    Test,
    /// Both.
    #[default]
    All,
}

impl Part {
    /// The part `key` belongs to: a fair coin, the same on every machine and run.
    pub fn of(key: &str) -> Part {
        let hash = blake3::hash(format!("{SPLIT_SEED}\n{key}").as_bytes());
        if hash.as_bytes()[0] & 1 == 0 {
            Part::Fit
        } else {
            Part::Test
        }
    }

    /// Whether the item with `key` is read when evaluating this part.
    pub fn includes(self, key: &str) -> bool {
        self == Part::All || Part::of(key) == self
    }
}

impl std::str::FromStr for Part {
    type Err = String;

    fn from_str(text: &str) -> Result<Part, String> {
        match text {
            "fit" => Ok(Part::Fit),
            "test" => Ok(Part::Test),
            "all" => Ok(Part::All),
            other => Err(format!("`{other}` is not a part: fit, test or all")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_fixed_and_about_even() {
        assert_eq!(Part::of("d001"), Part::of("d001"));
        let fit = (0..1000)
            .filter(|i| Part::of(&format!("item {i}")) == Part::Fit)
            .count();
        assert!(
            (430..570).contains(&fit),
            "{fit} of 1000 in the fitting part"
        );
        assert!(Part::All.includes("anything"));
        assert_ne!(
            Part::Fit.includes("d001"),
            Part::Test.includes("d001"),
            "every item is in exactly one part"
        );
    }
}
