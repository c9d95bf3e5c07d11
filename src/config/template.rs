//! The name templates of an upstream backend (`account = "AUTH_{project}"`,
//! `object = "{object}"`): literal text and placeholders, checked once when the config is
//! read and filled in per request.

use std::fmt;

/// A placeholder a template may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Project,
    Container,
    Object,
}

impl Placeholder {
    fn name(self) -> &'static str {
        match self {
            Placeholder::Project => "project",
            Placeholder::Container => "container",
            Placeholder::Object => "object",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Slot(Placeholder),
}

/// A parsed template.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({:?})", self.source)
    }
}

/// The names a template is filled in with.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    pub project: &'a str,
    pub container: &'a str,
    pub object: &'a str,
}

impl Template {
    /// Parses `text`, which may use only the placeholders in `allowed`. The message says
    /// what is wrong; the caller adds the key.
    pub fn parse(text: &str, allowed: &[Placeholder]) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                Some(i) if rest.as_bytes()[i] == b'}' => {
                    return Err(format!("{text:?}: a '}}' without its '{{'"));
                }
                Some(i) => {
                    if i > 0 {
                        pieces.push(Piece::Text(rest[..i].to_string()));
                    }
                    let after = &rest[i + 1..];
                    let end = after
                        .find('}')
                        .ok_or_else(|| format!("{text:?}: a '{{' without its '}}'"))?;
                    let name = &after[..end];
                    let slot = allowed
                        .iter()
                        .copied()
                        .find(|p| p.name() == name)
                        .ok_or_else(|| {
                            let names: Vec<String> = allowed
                                .iter()
                                .map(|p| format!("{{{}}}", p.name()))
                                .collect();
                            format!(
                                "{text:?}: {{{name}}} is not a placeholder here (only {})",
                                names.join(" ")
                            )
                        })?;
                    pieces.push(Piece::Slot(slot));
                    rest = &after[end + 1..];
                }
                None => {
                    pieces.push(Piece::Text(rest.to_string()));
                    rest = "";
                }
            }
        }
        if pieces.is_empty() {
            return Err("must not be empty".to_string());
        }
        Ok(Template {
            source: text.to_string(),
            pieces,
        })
    }

    pub fn uses(&self, p: Placeholder) -> bool {
        self.pieces.contains(&Piece::Slot(p))
    }

    /// The template with its placeholders filled in.
    pub fn fill(&self, names: &Names<'_>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Slot(Placeholder::Project) => out.push_str(names.project),
                Piece::Slot(Placeholder::Container) => out.push_str(names.container),
                Piece::Slot(Placeholder::Object) => out.push_str(names.object),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Placeholder::*;

    const NAMES: Names<'static> = Names {
        project: "p1",
        container: "c",
        object: "a/b c.txt",
    };

    #[test]
    fn placeholders_are_filled_and_text_is_kept() {
        let t = Template::parse("AUTH_{project}", &[Project]).unwrap();
        assert_eq!(t.fill(&NAMES), "AUTH_p1");
        let t = Template::parse(
            "{project}/{container}/{object}",
            &[Project, Container, Object],
        )
        .unwrap();
        assert_eq!(t.fill(&NAMES), "p1/c/a/b c.txt");
        assert!(t.uses(Object));
        assert!(!Template::parse("x", &[Object]).unwrap().uses(Object));
    }

    #[test]
    fn unknown_placeholders_and_stray_braces_are_refused() {
        for bad in ["{object}", "{proj}", "a{", "a}", "{", "{}", ""] {
            assert!(Template::parse(bad, &[Project]).is_err(), "{bad:?}");
        }
    }
}
