//! The management API, compatible with the provider's:
//! `POST /api/v1/projects/<p>/containers/<c>/objects/<o>/download_tempurls` (one object) and
//! `POST /api/v1/projects/<p>/containers/<c>/download_tempurls` (`"objects": [...]`).
//! Every answer, success or not, is the same JSON envelope. `GET`s are the listings of
//! `listing`.

mod listing;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use crate::app::State;
use crate::backend::BackendError;
use crate::body::Body;
use crate::config::Config;
use crate::share::{self, Mode, Protocol, ShareError, ShareSpec};

/// Largest request body accepted; a link request is a few hundred bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// Most objects in one batch request.
pub const MAX_BATCH: usize = 1000;

pub struct ApiError {
    status: StatusCode,
    message: String,
}

fn fail(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

fn envelope(status: StatusCode, error: Option<&str>, data: Value) -> Response<Body> {
    let body = json!({
        "errorMsg": error,
        "code": status.as_u16(),
        "success": error.is_none(),
        "data": data,
    });
    let mut r = Response::new(Body::full(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

impl ApiError {
    fn into_response(self) -> Response<Body> {
        envelope(self.status, Some(&self.message), Value::Null)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LinkRequest {
    time_expire: i64,
    url_type: String,
    view_mode: String,
    access_key: Option<String>,
    secret_key: Option<String>,
    objects: Option<Vec<String>>,
    file_name: Option<String>,
}

/// What the path names: a project, a container, and one object or a batch.
struct Target {
    project: String,
    container: String,
    object: Option<String>,
}

/// Parses the decoded path after `/api/v1`.
fn target(path: &str) -> Option<Target> {
    let rest = path.strip_prefix("/projects/")?;
    let (project, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("containers/")?;
    let (container, rest) = rest.split_once('/')?;
    if project.is_empty() || container.is_empty() {
        return None;
    }
    let object = if rest == "download_tempurls" {
        None
    } else {
        let object = rest
            .strip_prefix("objects/")?
            .strip_suffix("/download_tempurls")?;
        Some(object.to_string())
    };
    Some(Target {
        project: project.to_string(),
        container: container.to_string(),
        object,
    })
}

/// Which projects the bearer token may act for; compared in constant time against each token.
fn authorize<'c>(cfg: &'c Config, headers: &HeaderMap) -> Result<&'c [String], ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| fail(StatusCode::UNAUTHORIZED, "missing bearer token"))?;
    let mut found = None;
    for t in &cfg.api_tokens {
        if bool::from(t.token.expose().as_bytes().ct_eq(token.as_bytes())) {
            found = Some(t.projects.as_slice());
        }
    }
    found.ok_or_else(|| fail(StatusCode::UNAUTHORIZED, "invalid bearer token"))
}

pub async fn handle<B>(
    state: &State,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    query: &str,
    base_url: &str,
    body: B,
) -> Response<Body>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<crate::body::BoxError>,
{
    if let Some(listed) = listing::target(path) {
        if method != Method::GET {
            return fail(StatusCode::METHOD_NOT_ALLOWED, "use GET").into_response();
        }
        let query = crate::query::Query::new(query);
        return match listing::serve(state, headers, listed, &query).await {
            Ok(data) => envelope(StatusCode::OK, None, data),
            Err(e) => e.into_response(),
        };
    }
    match serve(state, method, headers, path, base_url, body).await {
        Ok(data) => envelope(StatusCode::OK, None, Value::Object(data)),
        Err(e) => e.into_response(),
    }
}

async fn serve<B>(
    state: &State,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    base_url: &str,
    body: B,
) -> Result<Map<String, Value>, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<crate::body::BoxError>,
{
    let cfg = &state.config;
    let target = target(path).ok_or_else(|| fail(StatusCode::NOT_FOUND, "no such API endpoint"))?;
    if method != Method::POST {
        return Err(fail(StatusCode::METHOD_NOT_ALLOWED, "use POST"));
    }
    let projects = authorize(cfg, headers)?;
    if !projects.contains(&target.project) {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "the token is not for this project",
        ));
    }
    let project = cfg
        .project(&target.project)
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "unknown project"))?;
    if !project.has_container(&target.container) {
        return Err(fail(StatusCode::NOT_FOUND, "unknown container"));
    }

    let req = read_request(body).await?;

    let protocol: Protocol = req.url_type.parse().map_err(|_| {
        fail(
            StatusCode::BAD_REQUEST,
            format!("urlType {:?} is not \"swift\" or \"s3\"", req.url_type),
        )
    })?;
    let mode: Mode = req.view_mode.parse().map_err(|_| {
        fail(
            StatusCode::BAD_REQUEST,
            format!(
                "viewMode {:?} is not \"view\" or \"download\"",
                req.view_mode
            ),
        )
    })?;
    let now = crate::clock::unix_now();
    // A negative count of seconds is as short as none.
    let lifetime = u64::try_from(req.time_expire).unwrap_or(0);
    share::check_lifetime(cfg, protocol, lifetime, now)
        .map_err(|why| fail(StatusCode::BAD_REQUEST, format!("timeExpire {why}")))?;

    let access_key = signing_key(project, &req, protocol)?;

    let objects = objects(&target, req.objects.as_deref())?;

    let mut data = Map::new();
    for object in &objects {
        readable(state, &target, object).await?;
        let spec = ShareSpec {
            project: &target.project,
            container: &target.container,
            object,
            protocol,
            mode,
            lifetime,
            access_key,
            filename: req.file_name.as_deref(),
            ip_range: None,
            prefix: false,
        };
        let url = share::make_link(cfg, &spec, base_url, now).map_err(|e| match e {
            ShareError::UnknownProject(_) | ShareError::UnknownContainer(_) => {
                fail(StatusCode::NOT_FOUND, e.to_string())
            }
            ShareError::Invalid(_) => fail(StatusCode::BAD_REQUEST, e.to_string()),
        })?;
        data.insert(object.clone(), Value::String(url));
    }
    Ok(data)
}

/// The request body, at most `MAX_BODY` bytes of JSON.
async fn read_request<B>(body: B) -> Result<LinkRequest, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<crate::body::BoxError>,
{
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                fail(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {MAX_BODY} bytes"),
                )
            } else {
                fail(StatusCode::BAD_REQUEST, "the body could not be read")
            }
        })?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| fail(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))
}

/// The S3 key to sign with: the project's first, or the pair the caller proved it holds.
/// Swift links take none.
fn signing_key<'p>(
    project: &'p crate::config::Project,
    req: &'p LinkRequest,
    protocol: Protocol,
) -> Result<Option<&'p str>, ApiError> {
    match protocol {
        Protocol::Swift => {
            if req.access_key.is_some() || req.secret_key.is_some() {
                return Err(fail(
                    StatusCode::BAD_REQUEST,
                    "accessKey and secretKey are only for urlType \"s3\"",
                ));
            }
            Ok(None)
        }
        Protocol::S3 => {
            match (&req.access_key, &req.secret_key) {
                // Signed here with the project's first key: no secret passes through a browser.
                (None, None) => match project.s3_keys.first() {
                    Some(k) => Ok(Some(k.access_key.as_str())),
                    None => Err(fail(
                        StatusCode::BAD_REQUEST,
                        format!("project {:?} has no S3 key", project.id),
                    )),
                },
                (Some(ak), Some(sk)) => {
                    // SECURITY: the secret is compared, never echoed.
                    let owned = project.s3_keys.iter().any(|k| {
                        k.access_key == *ak
                            && bool::from(k.secret_key.expose().as_bytes().ct_eq(sk.as_bytes()))
                    });
                    if !owned {
                        return Err(fail(
                            StatusCode::BAD_REQUEST,
                            "accessKey and secretKey are not a key pair of this project",
                        ));
                    }
                    Ok(Some(ak.as_str()))
                }
                _ => Err(fail(
                    StatusCode::BAD_REQUEST,
                    "give both accessKey and secretKey, or neither",
                )),
            }
        }
    }
}

/// The objects to link: the path's one, or the batch's list.
fn objects(target: &Target, listed: Option<&[String]>) -> Result<Vec<String>, ApiError> {
    match (&target.object, listed) {
        (Some(o), None) => Ok(vec![o.clone()]),
        (Some(_), Some(_)) => Err(fail(
            StatusCode::BAD_REQUEST,
            "\"objects\" is only for the batch endpoint",
        )),
        (None, Some([])) => Err(fail(StatusCode::BAD_REQUEST, "\"objects\" is empty")),
        (None, Some(list)) if list.len() > MAX_BATCH => Err(fail(
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_BATCH} objects at once"),
        )),
        (None, Some(list)) => Ok(list.to_vec()),
        (None, None) => Err(fail(
            StatusCode::BAD_REQUEST,
            "the batch endpoint needs \"objects\"",
        )),
    }
}

/// Only an object the store can give is linked to.
async fn readable(state: &State, target: &Target, object: &str) -> Result<(), ApiError> {
    match state
        .backend
        .exists(&target.project, &target.container, object)
        .await
    {
        Ok(_) => Ok(()),
        Err(BackendError::NotFound) => Err(fail(
            StatusCode::NOT_FOUND,
            format!("no object {object:?} in container {:?}", target.container),
        )),
        Err(BackendError::Denied) => Err(fail(
            StatusCode::FORBIDDEN,
            format!("object {object:?} is not readable by the gateway"),
        )),
        Err(e) => Err(store_failed(&e, "making a link")),
    }
}

/// The store failed (not a missing or unreadable object): logged here; to the caller a 503
/// for the filesystem, and as a gateway would for an upstream store: 504 when it timed out,
/// else 502.
fn store_failed(e: &BackendError, doing: &str) -> ApiError {
    tracing::error!(error = %e, "backend failed while {doing}");
    let status = match e {
        BackendError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        BackendError::Unavailable { .. } | BackendError::Misconfigured { .. } => {
            StatusCode::BAD_GATEWAY
        }
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    fail(status, "the object store failed")
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn single_and_batch_paths_parse() {
        let t = target("/projects/p/containers/c/objects/a/b c.txt/download_tempurls").unwrap();
        assert_eq!(
            (
                t.project.as_str(),
                t.container.as_str(),
                t.object.as_deref()
            ),
            ("p", "c", Some("a/b c.txt"))
        );
        let t = target("/projects/p/containers/c/download_tempurls").unwrap();
        assert_eq!(t.object, None);
        for bad in [
            "/projects/p",
            "/projects//containers/c/download_tempurls",
            "/projects/p/containers/c/objects/o",
            "/x",
        ] {
            assert!(target(bad).is_none(), "{bad}");
        }
    }

    fn link_request(access_key: Option<&str>, secret_key: Option<&str>) -> super::LinkRequest {
        super::LinkRequest {
            time_expire: 60,
            url_type: "s3".into(),
            view_mode: "view".into(),
            access_key: access_key.map(String::from),
            secret_key: secret_key.map(String::from),
            objects: None,
            file_name: None,
        }
    }

    #[test]
    fn only_a_key_pair_of_the_project_signs_and_swift_takes_none() {
        use super::{signing_key, Protocol};
        let cfg = crate::config::Config::parse(
            "[backend]\nkind = \"fs\"\nroot = \"x\"\n[[project]]\nid = \"p\"\n\
             [[project.s3_key]]\naccess_key = \"AK\"\nsecret_key = \"SK\"\n",
            std::path::Path::new("/"),
        )
        .unwrap();
        let p = cfg.project("p").unwrap();
        let key = |ak, sk, proto| {
            signing_key(p, &link_request(ak, sk), proto)
                .map(|k| k.map(String::from))
                .map_err(|e| e.status)
        };
        assert_eq!(
            key(None, None, Protocol::S3).ok(),
            Some(Some("AK".to_string()))
        );
        assert_eq!(
            key(Some("AK"), Some("SK"), Protocol::S3).ok(),
            Some(Some("AK".to_string()))
        );
        assert!(key(Some("AK"), Some("wrong"), Protocol::S3).is_err());
        assert!(key(Some("AK"), None, Protocol::S3).is_err());
        assert_eq!(key(None, None, Protocol::Swift).ok(), Some(None));
        assert!(key(Some("AK"), Some("SK"), Protocol::Swift).is_err());
    }
}
