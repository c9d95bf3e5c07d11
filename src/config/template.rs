//! Name templates of an upstream backend (`bucket = "{container}"`, `account =
//! "AUTH_{project}"`, `object = "{object}"`): literal text and the placeholders `{project}`,
//! `{container}` and `{object}`, checked once when the config is read and filled in per
//! request.

use std::fmt;

/// A placeholder a template may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Project,
    Container,
    Object,
}

impl Placeholder {
    const ALL: [Placeholder; 3] = [
        Placeholder::Project,
        Placeholder::Container,
        Placeholder::Object,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Placeholder::Project => "{project}",
            Placeholder::Container => "{container}",
            Placeholder::Object => "{object}",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value(Placeholder),
}

/// A parsed template.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => s.push_str(t),
                Piece::Value(v) => s.push_str(v.name()),
            }
        }
        write!(f, "Template({s:?})")
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
    /// Parses `text`, accepting only the placeholders in `allowed`. A `{` or `}` that is not
    /// part of one of them is an error (there is no escape: no store name needs a brace).
    pub fn parse(text: &str, allowed: &[Placeholder]) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let brace = rest.find(['{', '}']).unwrap_or(rest.len());
            if brace > 0 {
                pieces.push(Piece::Text(rest[..brace].to_string()));
                rest = &rest[brace..];
                continue;
            }
            let Some(p) = Placeholder::ALL
                .into_iter()
                .find(|p| rest.starts_with(p.name()))
            else {
                let shown: String = rest.chars().take(20).collect();
                return Err(format!(
                    "unknown placeholder at {shown:?} (use {})",
                    names(allowed)
                ));
            };
            if !allowed.contains(&p) {
                return Err(format!(
                    "{} cannot be used here (use {})",
                    p.name(),
                    names(allowed)
                ));
            }
            pieces.push(Piece::Value(p));
            rest = &rest[p.name().len()..];
        }
        if pieces.is_empty() {
            return Err("must not be empty".to_string());
        }
        Ok(Template { pieces })
    }

    pub fn uses(&self, p: Placeholder) -> bool {
        self.count(p) > 0
    }

    /// The template with its placeholders filled in.
    pub fn fill(&self, names: &Names<'_>) -> String {
        self.render(names.project, names.container, names.object)
    }

    /// How many times `p` occurs.
    pub fn count(&self, p: Placeholder) -> usize {
        self.pieces
            .iter()
            .filter(|x| **x == Piece::Value(p))
            .count()
    }

    /// The literal text, placeholders left out.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Text(t) => Some(t.as_str()),
            Piece::Value(_) => None,
        })
    }

    /// The template with the values put in.
    pub fn render(&self, project: &str, container: &str, object: &str) -> String {
        let mut out = String::with_capacity(32 + object.len());
        for p in &self.pieces {
            out.push_str(match p {
                Piece::Text(t) => t,
                Piece::Value(Placeholder::Project) => project,
                Piece::Value(Placeholder::Container) => container,
                Piece::Value(Placeholder::Object) => object,
            });
        }
        out
    }

    /// The container that `rendered` stands for, for `project`: the inverse of `render` for
    /// a template with exactly one `{container}` and no `{object}`. None when `rendered` is
    /// not of that shape or the container would be empty.
    pub fn container_of(&self, project: &str, rendered: &str) -> Option<String> {
        if self.count(Placeholder::Container) != 1 || self.count(Placeholder::Object) != 0 {
            return None;
        }
        let at = self
            .pieces
            .iter()
            .position(|p| *p == Piece::Value(Placeholder::Container))?;
        let fixed = |pieces: &[Piece]| Template {
            pieces: pieces.to_vec(),
        };
        let before = fixed(&self.pieces[..at]).render(project, "", "");
        let after = fixed(&self.pieces[at + 1..]).render(project, "", "");
        let middle = rendered.strip_prefix(&before)?.strip_suffix(&after)?;
        (!middle.is_empty()).then(|| middle.to_string())
    }
}

fn names(allowed: &[Placeholder]) -> String {
    let v: Vec<&str> = allowed.iter().map(|p| p.name()).collect();
    v.join(" ")
}

#[cfg(test)]
mod tests {
    use super::Placeholder::{Container, Object, Project};
    use super::*;

    #[test]
    fn placeholders_are_replaced_and_text_kept() {
        let t = Template::parse(
            "{project}/{container}/x-{object}",
            &[Project, Container, Object],
        )
        .unwrap();
        assert_eq!(t.render("p", "c", "a/b c"), "p/c/x-a/b c");
        assert_eq!(t.count(Container), 1);
        assert_eq!(t.literals().collect::<String>(), "//x-");
    }

    #[test]
    fn an_unknown_or_unallowed_placeholder_or_a_stray_brace_is_refused() {
        for bad in ["{bucket}", "a{", "}", "{Object}", "{container"] {
            let e = Template::parse(bad, &[Project, Container, Object]).unwrap_err();
            assert!(e.contains("unknown placeholder"), "{bad}: {e}");
        }
        let e = Template::parse("{object}", &[Project, Container]).unwrap_err();
        assert!(e.contains("{object} cannot be used here"), "{e}");
    }

    #[test]
    fn a_bucket_name_is_read_back_as_its_container_only_when_it_fits() {
        let t = Template::parse("kh-{project}-{container}", &[Project, Container]).unwrap();
        assert_eq!(
            t.container_of("p1", "kh-p1-photos").as_deref(),
            Some("photos")
        );
        assert_eq!(t.container_of("p2", "kh-p1-photos"), None);
        assert_eq!(t.container_of("p1", "kh-p1-"), None);
        assert_eq!(t.container_of("p1", "other"), None);
        let fixed = Template::parse("media", &[Project, Container]).unwrap();
        assert_eq!(fixed.container_of("p1", "media"), None);
    }
}

#[cfg(test)]
mod fill_tests {
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
