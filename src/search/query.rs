//! User query syntax: what a customer types, read leniently. Words, `"quoted phrases"` and
//! `-excluded` words or phrases; every other character is plain text. Nothing here can fail:
//! unbalanced quotes close at the end, field syntax like `foo:(` is just text, and a query longer
//! than the clause limit keeps its first clauses.

/// One word or phrase of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub text: String,
    /// Written in quotes: its words must appear together, in order.
    pub phrase: bool,
    /// Written with a leading `-`: articles containing it are left out.
    pub negated: bool,
}

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    pub clauses: Vec<Clause>,
    /// True when clauses beyond the limit were dropped.
    pub truncated: bool,
}

impl UserQuery {
    pub fn positive(&self) -> impl Iterator<Item = &Clause> {
        self.clauses.iter().filter(|c| !c.negated)
    }

    pub fn negative(&self) -> impl Iterator<Item = &Clause> {
        self.clauses.iter().filter(|c| c.negated)
    }
}

/// Reads `input` into clauses, keeping at most `max_clauses`.
pub fn parse(input: &str, max_clauses: usize) -> UserQuery {
    let mut query = UserQuery::default();
    let mut chars = input.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            break;
        };
        let mut negated = false;
        if first == '-' || first == '+' {
            chars.next();
            match chars.peek() {
                Some(c) if !c.is_whitespace() => negated = first == '-',
                _ => continue,
            }
        }
        let phrase = chars.next_if_eq(&'"').is_some();
        let mut text = String::new();
        while let Some(&c) = chars.peek() {
            let ends_clause = c == '"' || (!phrase && c.is_whitespace());
            if ends_clause {
                break;
            }
            text.push(c);
            chars.next();
        }
        if phrase {
            chars.next_if_eq(&'"');
        }
        if text.trim().is_empty() {
            continue;
        }
        if query.clauses.len() == max_clauses {
            query.truncated = true;
            break;
        }
        query.clauses.push(Clause {
            text,
            phrase,
            negated,
        });
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(text: &str, phrase: bool, negated: bool) -> Clause {
        Clause {
            text: text.to_string(),
            phrase,
            negated,
        }
    }

    #[test]
    fn words_phrases_and_exclusions() {
        let query = parse(r#"cutover "open files" -nfs -"data mover" foo:("#, 16);
        assert_eq!(
            query.clauses,
            [
                clause("cutover", false, false),
                clause("open files", true, false),
                clause("nfs", false, true),
                clause("data mover", true, true),
                clause("foo:(", false, false),
            ]
        );
    }

    #[test]
    fn odd_input_never_fails() {
        assert!(parse("", 8).clauses.is_empty());
        assert!(parse(" - + \"\" ", 8).clauses.is_empty());
        assert_eq!(
            parse("\"unbalanced quote", 8).clauses,
            [clause("unbalanced quote", true, false)]
        );
        let long = "word ".repeat(1000);
        let query = parse(&long, 64);
        assert_eq!(query.clauses.len(), 64);
        assert!(query.truncated);
    }
}
