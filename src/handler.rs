//! A request's life, top to bottom: route → verify → grant → deliver. Each step is a call
//! into its own module; nothing here reaches back.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use crate::auth::cache;
use crate::auth::s3::{S3Error, S3Request, Scheme};
use crate::auth::{self, Denied, Grant};
use crate::backend::BackendError;
use crate::body::Body;
use crate::delivery::Prepared;
use crate::forwarded::Origin;
use crate::query::Query;
use crate::router::{self, Route, S3Route, SwiftRoute};
use crate::server::State;
use crate::{api, delivery};

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn method_not_allowed() -> Response<Body> {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed\n");
    r.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    r
}

/// The protocol-shaped answer to a refused request.
fn denied(state: &State, d: Denied) -> Response<Body> {
    state.metrics.denied();
    match d {
        // Swift's own words; the same for every failure.
        Denied::Swift => text(
            StatusCode::UNAUTHORIZED,
            "401 Unauthorized: Temp URL invalid\n",
        ),
        Denied::S3(e) => s3_error(&e),
    }
}

/// AWS's error XML, with the request id AWS also sends as a header.
fn s3_error(e: &S3Error) -> Response<Body> {
    let id = auth::s3::request_id();
    let mut r = Response::new(Body::full(e.xml(&id)));
    *r.status_mut() = e.status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-amz-request-id", v);
    }
    if e.status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
    }
    r
}

pub async fn handle<B>(state: &State, req: Request<B>, peer: SocketAddr) -> Response<Body>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: Into<crate::body::BoxError>,
{
    let mut resp = route_and_serve(state, req, peer).await;
    let h = resp.headers_mut();
    // SECURITY: never let a browser guess a type we did not declare.
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    state.metrics.response(resp.status().as_u16());
    resp
}

async fn route_and_serve<B>(state: &State, req: Request<B>, peer: SocketAddr) -> Response<Body>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: Into<crate::body::BoxError>,
{
    let cfg = &state.config;
    let host = match crate::host::of(req.version(), req.uri(), req.headers()) {
        Ok(h) => h,
        Err(bad) => return text(StatusCode::BAD_REQUEST, bad.message()),
    };
    let origin = Origin::from_request(
        &cfg.proxy.trusted,
        cfg.proxy.headers,
        peer,
        host,
        req.headers(),
    );
    let query = Query::new(req.uri().query().unwrap_or(""));
    let route = router::route(cfg, req.uri().path(), origin.host.as_deref());
    // Links are checked without awaiting anything, so the request's one await (the
    // backend's open) sits one future deep, not three: each level of nesting moved the
    // whole future once more.
    let access = match route {
        Route::Swift(r) if req.method() != Method::OPTIONS => {
            swift(state, &req, &r, &query, &origin)
        }
        Route::S3(r) if req.method() != Method::OPTIONS => s3(state, &req, &r, &query, &origin),
        Route::Api(path) => {
            let base = public_base_url(cfg, &origin);
            let (parts, body) = req.into_parts();
            let query = parts.uri.query().unwrap_or("");
            return api::handle(
                state,
                &parts.method,
                &parts.headers,
                &path,
                query,
                &base,
                body,
            )
            .await;
        }
        other => return answer(state, other, &req),
    };
    match access {
        Ok(access) => serve(state, access, &req).await,
        Err(refused) => refused,
    }
}

/// The routes that are not an object behind a link, answered at once.
fn answer<B>(state: &State, route: Route<'_>, req: &Request<B>) -> Response<Body> {
    let cfg = &state.config;
    match route {
        Route::Health => text(StatusCode::OK, "ok\n"),
        Route::Ready => match state.backend.ready() {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(e) => {
                tracing::warn!(error = %e, "not ready");
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: the backend is unavailable\n",
                )
            }
        },
        Route::Metrics => {
            let mut r = Response::new(Body::full(state.metrics.render()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        Route::Ui(name) if name == ".." => {
            let mut r = text(StatusCode::MOVED_PERMANENTLY, "moved to /_keyhole/ui/\n");
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("ui/"));
            r
        }
        Route::Ui(name) => crate::ui::page(&name),
        Route::Home => crate::ui::home(),
        // The API is the caller's (it awaits the request body).
        Route::NotFound | Route::Api(_) => text(StatusCode::NOT_FOUND, "404 Not Found\n"),
        // In the shape of the protocol the path looks like: S3 unless it is Swift's or ours.
        Route::BadPath
            if !["/v1/", "/api/", "/_keyhole/"]
                .iter()
                .any(|p| req.uri().path().starts_with(p)) =>
        {
            s3_error(&S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidURI",
                "Couldn't parse the specified URI.",
            ))
        }
        Route::BadPath => text(
            StatusCode::BAD_REQUEST,
            "400 Bad Request: the path is not UTF-8\n",
        ),
        // A preflight carries no signature: answer it before any check, from the container's CORS list.
        Route::Swift(r) => {
            let container = r
                .account()
                .strip_prefix(cfg.swift.reseller_prefix.as_str())
                .and_then(|p| cfg.project(p))
                .and_then(|p| p.container(r.container()));
            delivery::cors::preflight(container.map(|c| c.cors_origins.as_slice()), req.headers())
        }
        Route::S3(r) => delivery::cors::preflight(
            cfg.bucket(&r.bucket)
                .map(|(_, c)| c.cors_origins.as_slice()),
            req.headers(),
        ),
    }
}

/// Where links made for this request point: the configured `public_url`, else the scheme
/// and host the client used (from a trusted proxy's headers when there is one). A path
/// prefix only ever comes from `public_url`.
pub fn public_base_url(cfg: &crate::config::Config, origin: &Origin<'_>) -> String {
    match (&cfg.public_url, &origin.host) {
        (Some(u), _) => u.clone(),
        (None, Some(host))
            if host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) =>
        {
            format!("{}://{}", origin.scheme, host)
        }
        (None, _) => format!("http://{}", cfg.listen),
    }
}

/// The grant for `key` from the cache of recent verifications, or `verify()`'s, stored.
fn cached_or(
    state: &State,
    key: Option<cache::Key<'_>>,
    now: u64,
    client: IpAddr,
    verify: impl FnOnce() -> Result<Grant, Denied>,
) -> Result<Arc<Prepared>, Denied> {
    let prepare = || Ok(Arc::new(Prepared::new(verify()?)));
    match key {
        Some(k) => state.links.get_or_verify(k, now, client, prepare),
        None => prepare(),
    }
}

/// A public container's grant, prepared for this request alone.
fn public_grant(project: &str, container: &str, object: &str) -> Arc<Prepared> {
    Arc::new(Prepared::new(Grant::public(project, container, object)))
}

/// What a checked link lets this request have, and how to say that its object is missing.
struct Access {
    prepared: Arc<Prepared>,
    now: u64,
    missing: Missing,
}

enum Missing {
    Swift,
    /// S3 tells a missing key from a missing bucket, once the signature has held.
    S3,
}

// The refusal is the response itself, returned to hyper as is; boxing it would only add an
// allocation to every refused request.
#[allow(clippy::result_large_err)]
fn swift<B>(
    state: &State,
    req: &Request<B>,
    r: &SwiftRoute<'_>,
    query: &Query<'_>,
    origin: &Origin<'_>,
) -> Result<Access, Response<Body>> {
    let cfg = &state.config;
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        return Err(method_not_allowed());
    }
    let now = unix_now();
    // The cache is asked first: only a tempurl verified before can be in it, since public
    // grants have no expiry and are never kept.
    let key = cache::key(method.as_str(), "", req.uri().path(), query.raw());
    let access = || {
        if !auth::swift::is_tempurl(query) {
            let public = r
                .account()
                .strip_prefix(cfg.swift.reseller_prefix.as_str())
                .and_then(|p| cfg.project(p))
                .and_then(|p| p.container(r.container()).map(|c| (p, c)))
                .filter(|(_, c)| c.public);
            return match public {
                Some((p, c)) => Ok(Grant::public(&p.id, &c.name, r.object())),
                None => Err(Denied::Swift),
            };
        }
        let path = auth::swift::SwiftPath {
            path: &r.path,
            account: r.account(),
            container: r.container(),
            object: r.object(),
        };
        auth::swift::verify(cfg, &path, method, query, origin.client_ip, now)
    };
    match cached_or(state, key, now, origin.client_ip, access) {
        Ok(prepared) => Ok(Access {
            prepared,
            now,
            missing: Missing::Swift,
        }),
        Err(d) => Err(denied(state, d)),
    }
}

// A large Err for the reason given at swift().
#[allow(clippy::result_large_err)]
fn s3<B>(
    state: &State,
    req: &Request<B>,
    r: &S3Route<'_>,
    query: &Query<'_>,
    origin: &Origin<'_>,
) -> Result<Access, Response<Body>> {
    let cfg = &state.config;
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        return Err(s3_error(&S3Error::method_not_allowed(method.as_str())));
    }
    let now = unix_now();
    // SECURITY: the signature is checked over the path bucket and key were taken from,
    // mount included; no header takes part in it.
    let s3req = S3Request {
        method,
        signed_path: r.signed_path,
        bucket: &r.bucket,
        key: &r.key,
        virtual_host: r.virtual_host,
        query: *query,
        headers: req.headers(),
        host: origin.host.as_deref(),
    };
    // The cache is asked before the query is read: a repeat of a verified link needs
    // neither its scheme nor its parameters.
    let key = auth::s3::cache_key(&s3req);
    let hit = key.and_then(|k| state.links.get(k, now, origin.client_ip));
    let verified = match hit {
        Some(p) => Ok(p),
        None => auth::s3::scheme(&s3req).and_then(|scheme| match scheme {
            Scheme::Unsigned => match cfg.public_bucket(&r.bucket) {
                // Unsigned: no `response-*` override is believed.
                Some((p, c)) => Ok(public_grant(&p.id, &c.name, &r.key)),
                None => Err(S3Error::access_denied("Access Denied").into()),
            },
            signed => {
                let grant = auth::s3::verify(cfg, &s3req, signed, now)?;
                let p = Arc::new(Prepared::new(grant));
                if let Some(k) = key.filter(|_| auth::s3::keepable(&s3req, signed)) {
                    state.links.put(k, &p);
                }
                Ok(p)
            }
        }),
    };
    let prepared = verified.map_err(|d| denied(state, d))?;
    Ok(Access {
        prepared,
        now,
        missing: Missing::S3,
    })
}

/// What a store's failure to open a granted object says, in the link's protocol. Only here,
/// after a valid signature, may the caller learn what exists.
fn store_error(e: &BackendError, grant: &Grant, missing: &Missing, exists: bool) -> Response<Body> {
    match (e, missing) {
        (BackendError::NotFound, Missing::Swift) => text(StatusCode::NOT_FOUND, "404 Not Found\n"),
        (BackendError::NotFound, Missing::S3) if exists => {
            s3_error(&S3Error::no_such_key(&grant.object))
        }
        (BackendError::NotFound, Missing::S3) => {
            s3_error(&S3Error::no_such_bucket(&grant.container))
        }
        // The store logged it (once); the caller learns only that it may not have it.
        (BackendError::Denied, Missing::Swift) => text(StatusCode::FORBIDDEN, "403 Forbidden\n"),
        (BackendError::Denied, Missing::S3) => s3_error(&S3Error::access_denied("Access Denied")),
        (BackendError::Io(err), _) => {
            tracing::error!(project = %grant.project, container = %grant.container, error = %err, "backend read failed");
            match missing {
                Missing::Swift => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "503 Service Unavailable: the object store failed\n",
                ),
                Missing::S3 => s3_error(&S3Error::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The object store failed. Please try again.",
                )),
            }
        }
    }
}

/// Opens the granted object, hands it to delivery, and adds the container's CORS headers.
async fn serve<B>(state: &State, access: Access, req: &Request<B>) -> Response<Body> {
    let Access {
        prepared,
        now,
        missing,
    } = access;
    let grant = &prepared.grant;
    let project = state.config.project(&grant.project);
    let container = project.and_then(|p| p.container(&grant.container));
    // SECURITY: only the containers the config says exist are opened (`any_container`); a
    // folder the store holds beside them is no container, however the link was signed.
    let exists = project.is_some_and(|p| p.has_container(&grant.container));
    let opened = if exists {
        state
            .backend
            .open(&grant.project, &grant.container, &grant.object)
            .await
    } else {
        Err(BackendError::NotFound)
    };
    let mut resp = match opened {
        Ok(object) => delivery::respond(&prepared, object, req.method(), req.headers(), now),
        Err(e) => store_error(&e, grant, &missing, exists),
    };
    if let Some(c) = container {
        delivery::cors::decorate(&c.cors_origins, req.headers(), resp.headers_mut());
    }
    resp
}
