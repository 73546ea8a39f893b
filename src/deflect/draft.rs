//! The draft case: what a customer has typed into the case form so far, with the request types
//! and severities of the support policy, read leniently and named when wrong.

use std::str::FromStr;

use serde::Serialize;
use thiserror::Error;

use crate::config::DEFAULT_MIN_CONFIDENCE;
use crate::content::article::Visibility;
use crate::deflect::DEFAULT_LIMIT;
use crate::error::SearchError;

/// The request types of the support policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseType {
    Problem,
    Question,
    FeatureRequest,
    Request,
}

impl FromStr for CaseType {
    type Err = DraftError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let normalised: String = text
            .trim()
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c == ' ' || c == '-' { '_' } else { c })
            .collect();
        match normalised.as_str() {
            "problem" => Ok(CaseType::Problem),
            "question" => Ok(CaseType::Question),
            "feature_request" => Ok(CaseType::FeatureRequest),
            "request" => Ok(CaseType::Request),
            _ => Err(DraftError::Field {
                field: "case_type",
                message: format!(
                    "`{text}` is not a request type: problem, question, feature_request or request"
                ),
            }),
        }
    }
}

/// Severity 1 (critical) to 4 (low), as the support policy defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Severity(u8);

impl Severity {
    pub fn new(level: i64) -> Result<Severity, DraftError> {
        match u8::try_from(level) {
            Ok(level @ 1..=4) => Ok(Severity(level)),
            _ => Err(DraftError::Field {
                field: "severity",
                message: format!("{level} is not a severity: 1 (critical) to 4 (low)"),
            }),
        }
    }

    pub fn level(self) -> u8 {
        self.0
    }
}

impl Default for Severity {
    fn default() -> Self {
        Severity(3)
    }
}

/// Why a draft cannot be looked at.
#[derive(Debug, Error)]
pub enum DraftError {
    #[error("a subject or a description is required")]
    Empty,
    #[error("field `{field}`: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// A case as the customer has written it so far.
#[derive(Debug, Clone)]
pub struct DraftCase {
    pub subject: String,
    pub description: String,
    pub case_type: CaseType,
    pub severity: Severity,
    pub product: Option<String>,
    pub version: Option<String>,
    pub limit: usize,
    /// The lowest confidence shown.
    pub min_confidence: f32,
    /// The most restricted visibility the customer may see.
    pub audience: Visibility,
}

impl DraftCase {
    pub fn new(subject: impl Into<String>, description: impl Into<String>) -> Self {
        DraftCase {
            subject: subject.into(),
            description: description.into(),
            case_type: CaseType::Problem,
            severity: Severity::default(),
            product: None,
            version: None,
            limit: DEFAULT_LIMIT,
            min_confidence: DEFAULT_MIN_CONFIDENCE,
            audience: Visibility::Public,
        }
    }
}
