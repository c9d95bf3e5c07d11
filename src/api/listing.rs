//! The listing endpoints the share page browses with (same token and envelope as the links):
//! `GET /api/v1/projects` and `GET /api/v1/projects/<p>/containers/<c>/objects?prefix=&
//! delimiter=/&marker=&limit=`.

use std::time::UNIX_EPOCH;

use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::{authorize, fail, ApiError};
use crate::app::State;
use crate::backend::{BackendError, ListQuery, Listing};
use crate::query::Query;

/// Most entries on one page, and the default.
pub const MAX_LIMIT: usize = 1000;

/// What a listing path names.
#[derive(Debug, PartialEq, Eq)]
pub enum Listed<'a> {
    Projects,
    Objects {
        project: &'a str,
        container: &'a str,
    },
}

/// Parses the decoded path after `/api/v1`; `None` when it is not a listing.
pub fn target(path: &str) -> Option<Listed<'_>> {
    if path == "/projects" {
        return Some(Listed::Projects);
    }
    let rest = path.strip_prefix("/projects/")?;
    let (project, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("containers/")?;
    let container = rest.strip_suffix("/objects")?;
    (!project.is_empty() && !container.is_empty() && !container.contains('/'))
        .then_some(Listed::Objects { project, container })
}

/// The projects the token may use, with their containers: the listed ones, and for an
/// `any_container` project also every folder the store holds for it.
async fn projects(state: &State, allowed: &[String]) -> Result<Value, ApiError> {
    let mut list = Vec::new();
    for p in state
        .config
        .projects
        .iter()
        .filter(|p| allowed.contains(&p.id))
    {
        let mut containers: Vec<(String, bool)> = p
            .containers
            .iter()
            .map(|c| (c.name.clone(), c.public))
            .collect();
        if p.any_container {
            let held = state
                .backend
                .containers(&p.id)
                .await
                .map_err(|e| super::store_failed(&e, "listing containers"))?;
            for name in held {
                if !containers.iter().any(|(n, _)| *n == name) {
                    containers.push((name, false));
                }
            }
            containers.sort();
        }
        let containers: Vec<Value> = containers
            .into_iter()
            .map(|(name, public)| json!({"name": name, "public": public}))
            .collect();
        list.push(json!({"id": p.id, "containers": containers}));
    }
    Ok(Value::Array(list))
}

/// A query parameter that may appear once; `+` reads as a space, as in any HTML form.
fn param<'q>(query: &Query<'q>, name: &str) -> Result<Option<std::borrow::Cow<'q, str>>, ApiError> {
    if query.pairs().any(|(k, _)| k == name) && query.first_form(name).is_none() {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            format!("{name} is not percent-encoded UTF-8"),
        ));
    }
    query
        .unique_form(name)
        .map_err(|_| fail(StatusCode::BAD_REQUEST, format!("{name} is given twice")))
}

fn limit(query: &Query<'_>) -> Result<usize, ApiError> {
    let Some(text) = param(query, "limit")? else {
        return Ok(MAX_LIMIT);
    };
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(fail(
            StatusCode::BAD_REQUEST,
            format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

fn page_json(page: Listing) -> Value {
    let objects: Vec<Value> = page
        .objects
        .into_iter()
        .map(|o| {
            let modified = o
                .modified
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let ctype = crate::delivery::content_type(&o.name);
            json!({
                "name": o.name,
                "bytes": o.bytes,
                "lastModified": crate::expiry::format_iso8601(modified),
                "contentType": ctype.to_str().unwrap_or("application/octet-stream"),
            })
        })
        .collect();
    json!({"objects": objects, "prefixes": page.prefixes, "nextMarker": page.next_marker})
}

pub async fn serve(
    state: &State,
    headers: &HeaderMap,
    listed: Listed<'_>,
    query: &Query<'_>,
) -> Result<Value, ApiError> {
    let cfg = &state.config;
    let allowed = authorize(cfg, headers)?;
    let (project, container) = match listed {
        Listed::Projects => return projects(state, allowed).await,
        Listed::Objects { project, container } => (project, container),
    };
    if !allowed.iter().any(|p| p == project) {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "the token is not for this project",
        ));
    }
    // With `any_container`, a name the config does not list is still the project's.
    let known = crate::backend::valid_segment(container)
        && cfg
            .project(project)
            .is_some_and(|p| p.has_container(container));
    if !known {
        return Err(fail(
            StatusCode::NOT_FOUND,
            format!("no container {container:?} in project {project:?}"),
        ));
    }
    let prefix = param(query, "prefix")?.unwrap_or_default();
    let marker = param(query, "marker")?.unwrap_or_default();
    let delimiter = match param(query, "delimiter")?.as_deref() {
        None | Some("") => false,
        Some("/") => true,
        Some(_) => return Err(fail(StatusCode::BAD_REQUEST, "delimiter can only be \"/\"")),
    };
    let list = ListQuery {
        prefix: &prefix,
        delimiter,
        marker: &marker,
        limit: limit(query)?,
    };
    match state.backend.list(project, container, &list).await {
        Ok(page) => Ok(page_json(page)),
        // A configured container with nothing stored yet is empty, not missing.
        Err(BackendError::NotFound) => Ok(page_json(Listing::default())),
        Err(BackendError::Denied) => Err(fail(
            StatusCode::FORBIDDEN,
            format!("container {container:?} is not readable by the gateway"),
        )),
        Err(e) => Err(super::store_failed(&e, "listing")),
    }
}

#[cfg(test)]
mod tests {
    use super::{target, Listed};

    #[test]
    fn listing_paths_parse_and_link_paths_do_not() {
        assert_eq!(target("/projects"), Some(Listed::Projects));
        assert_eq!(
            target("/projects/p/containers/c/objects"),
            Some(Listed::Objects {
                project: "p",
                container: "c"
            })
        );
        for other in [
            "/projects/p/containers/c/objects/o/download_tempurls",
            "/projects/p/containers/c/download_tempurls",
            "/projects//containers/c/objects",
            "/projects/p/containers/a/b/objects",
            "/projects/",
        ] {
            assert_eq!(target(other), None, "{other}");
        }
    }
}
