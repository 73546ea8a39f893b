//! `kbsearch deflect`: the articles that may answer a draft support case, as the case form would
//! show them.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use kbsearch::config::{DEFAULT_MIN_CONFIDENCE, Overrides};
use kbsearch::deflect::{self, CaseType, Deflection, Deflector, DraftCase, Severity};

use super::{ModelArg, Paths, Role, emit, open_searcher};

#[derive(Args)]
pub struct DeflectArgs {
    #[command(flatten)]
    paths: Paths,
    #[command(flatten)]
    model: ModelArg,
    /// The case subject.
    #[arg(long, default_value = "")]
    subject: String,
    /// The case description.
    #[arg(long, default_value = "")]
    description: String,
    /// problem, question, feature_request or request.
    #[arg(long, default_value = "problem")]
    case_type: String,
    /// 1 (critical) to 4 (low).
    #[arg(long, default_value_t = 3)]
    severity: i64,
    #[arg(long)]
    product: Option<String>,
    #[arg(long)]
    version: Option<String>,
    #[arg(long, default_value_t = deflect::DEFAULT_LIMIT)]
    limit: usize,
    /// Lowest confidence shown, 0 to 1.
    #[arg(long, default_value_t = DEFAULT_MIN_CONFIDENCE)]
    min_confidence: f32,
    /// Whose view to search with.
    #[arg(long, value_enum, default_value_t = Role::Customer)]
    role: Role,
    #[arg(long)]
    json: bool,
}

pub fn run(args: DeflectArgs) -> Result<ExitCode> {
    let config = args.paths.config(args.model.over(Overrides::default()))?;
    let searcher = open_searcher(&config)?;
    let draft = DraftCase {
        case_type: args.case_type.parse::<CaseType>()?,
        severity: Severity::new(args.severity)?,
        product: args.product,
        version: args.version,
        limit: args.limit,
        min_confidence: args.min_confidence,
        audience: args.role.audience(),
        ..DraftCase::new(args.subject, args.description)
    };
    let deflection = Deflector::new(&searcher).deflect(&draft)?;
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&deflection)?))?;
    } else {
        emit(&format_deflection(&deflection))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Notices, then each suggestion with its confidence and why it matched.
fn format_deflection(deflection: &Deflection) -> String {
    let mut out = String::new();
    for notice in &deflection.notices {
        match &notice.article {
            Some(id) => {
                let _ = writeln!(out, "note: {} (see {id})", notice.text);
            }
            None => {
                let _ = writeln!(out, "note: {}", notice.text);
            }
        }
    }
    if deflection.suggestions.is_empty() {
        let _ = writeln!(out, "no article answers this draft confidently enough");
    }
    for (rank, suggestion) in deflection.suggestions.iter().enumerate() {
        let why = format!("matched: {}", suggestion.matched_terms.join(", "));
        let _ = writeln!(
            out,
            "{:>2}. {} ({:.0}%)\n    {} · {}\n",
            rank + 1,
            suggestion.info.title,
            suggestion.confidence * 100.0,
            suggestion.info.id,
            why
        );
    }
    out
}
