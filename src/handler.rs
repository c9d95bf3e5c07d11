//! A request's life, top to bottom: route → authorize (`app::authorize`: verify, grant,
//! the link cache) → open → deliver, or a refusal rendered in the link's protocol
//! (`app::denied`). Each step is a call into its own module; nothing here reaches back.

use std::net::SocketAddr;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};

use crate::app::authorize::{authorize, store_keys, Access, Link};
use crate::app::denied::{s3_error, Denied};
use crate::app::State;
use crate::auth::s3::S3Error;
use crate::backend::{Ask, BackendError};
use crate::body::Body;
use crate::forwarded::Origin;
use crate::outcome::{Kind, Note, Reason};
use crate::query::Query;
use crate::reply::text;
use crate::router::{self, Preflight, Route};
use crate::{api, delivery};

pub async fn handle<B>(state: &State, req: Request<B>, peer: SocketAddr) -> Response<Body>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: Into<crate::body::BoxError>,
{
    handle_noted(state, req, peer).await.0
}

/// `handle`, and what the access log and the metrics say of the request: its protocol, the
/// client as resolved and, for a refusal, why (which the response never says).
pub async fn handle_noted<B>(
    state: &State,
    req: Request<B>,
    peer: SocketAddr,
) -> (Response<Body>, Note)
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: Into<crate::body::BoxError>,
{
    let mut note = Note::new(Kind::Other);
    let mut resp = route_and_serve(state, req, peer, &mut note).await;
    let h = resp.headers_mut();
    // SECURITY: never let a browser guess a type we did not declare.
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    state.metrics.response(note.kind, resp.status().as_u16());
    if let Some(r) = note.reason {
        state.metrics.refusal(r);
        if r.is_backend() {
            state.metrics.backend_error(r.as_str());
        }
    }
    (resp, note)
}

async fn route_and_serve<B>(
    state: &State,
    req: Request<B>,
    peer: SocketAddr,
    note: &mut Note,
) -> Response<Body>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: Into<crate::body::BoxError>,
{
    let cfg = &state.config;
    let host = match crate::host::of(req.version(), req.uri(), req.headers()) {
        Ok(h) => h,
        Err(bad) => {
            note.reason = Some(Reason::BadRequest);
            return text(StatusCode::BAD_REQUEST, bad.message());
        }
    };
    let origin = Origin::on_connection(
        &cfg.proxy.trusted,
        cfg.proxy.headers,
        peer,
        host,
        req.headers(),
        cfg.scheme(),
    );
    note.client = Some(origin.client_ip);
    let query = Query::new(req.uri().query().unwrap_or(""));
    let route = router::route_request(cfg, req.method(), req.uri().path(), origin.host.as_deref());
    note.kind = kind_of(&route);
    let access = match &route {
        Route::Swift(r) => match store_keys(state, r, &query).await {
            Ok(keys) => authorize(state, &req, Link::Swift(r, keys.as_ref()), &query, &origin),
            // The store could not give its keys: a link the config's keys open is still
            // served; any other gets the store's failure, not "invalid".
            Err(unread) => match authorize(state, &req, Link::Swift(r, None), &query, &origin) {
                Err(Denied::Link(_)) => return unread.render(),
                other => other,
            },
        },
        Route::S3(r) => authorize(state, &req, Link::S3(r), &query, &origin),
        Route::Api(path) => {
            let base = public_base_url(cfg, &origin);
            let (parts, body) = req.into_parts();
            let query = parts.uri.query().unwrap_or("");
            // Boxed: the API's future (a listing, a batch of links) is several times the size
            // of a link's, which every request's future would otherwise carry.
            let resp = Box::pin(api::handle(
                state,
                &parts.method,
                &parts.headers,
                path,
                query,
                &base,
                body,
            ))
            .await;
            // The API answers 401 for a missing or unknown bearer token only.
            if resp.status() == StatusCode::UNAUTHORIZED {
                note.reason = Some(Reason::BadToken);
            }
            return resp;
        }
        Route::BadPath => {
            note.reason = Some(Reason::BadRequest);
            return answer(state, route, &req).await;
        }
        _ => return answer(state, route, &req).await,
    };
    match access {
        Ok(access) => serve(state, access, &req, note).await,
        Err(refused) => {
            if let Route::S3(_) = route {
                note.kind = crate::auth::s3::kind(&query, req.headers());
            }
            note.reason = Some(refused.reason());
            refused.render()
        }
    }
}

/// The protocol a route speaks, as the log and the metrics name it. Which S3 scheme a link
/// used is told once it is checked (`Access::kind`, or from its claims when refused).
fn kind_of(route: &Route<'_>) -> Kind {
    match route {
        Route::Swift(_) => Kind::Swift,
        Route::S3(_) => Kind::S3,
        Route::Api(_) => Kind::Api,
        Route::Health | Route::Ready => Kind::Health,
        Route::Metrics => Kind::Metrics,
        Route::UiRedirect | Route::Ui(_) | Route::Home => Kind::Ui,
        Route::Preflight(_) => Kind::Preflight,
        Route::NotFound | Route::BadPath => Kind::Other,
    }
}

/// The routes that are not an object behind a link.
async fn answer<B>(state: &State, route: Route<'_>, req: &Request<B>) -> Response<Body> {
    let cfg = &state.config;
    match route {
        Route::Health => text(StatusCode::OK, "ok\n"),
        Route::Ready => match state.backend.ready().await {
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
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            r
        }
        Route::UiRedirect => {
            let mut r = text(StatusCode::MOVED_PERMANENTLY, "moved to /_keyhole/ui/\n");
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("ui/"));
            r
        }
        Route::Ui(name) => crate::ui::page(&name),
        Route::Home => crate::ui::home(),
        // Links and the API are the caller's (the API awaits the request body).
        Route::NotFound | Route::Api(_) | Route::Swift(_) | Route::S3(_) => {
            text(StatusCode::NOT_FOUND, "404 Not Found\n")
        }
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
        Route::Preflight(Preflight::Swift(r)) => {
            let container = r
                .account()
                .strip_prefix(cfg.swift.reseller_prefix.as_str())
                .and_then(|p| cfg.project(p))
                .and_then(|p| p.container(r.container()));
            delivery::cors::preflight(container.map(|c| c.cors_origins.as_slice()), req.headers())
        }
        Route::Preflight(Preflight::S3(r)) => delivery::cors::preflight(
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
        (None, _) => format!("{}://{}", cfg.scheme(), cfg.listen),
    }
}

/// Opens the granted object, hands it to delivery, and adds the container's CORS headers.
async fn serve<B>(
    state: &State,
    access: Access,
    req: &Request<B>,
    note: &mut Note,
) -> Response<Body> {
    let Access {
        prepared,
        now,
        protocol,
        kind,
    } = access;
    note.kind = kind;
    let grant = &prepared.grant;
    let project = state.config.project(&grant.project);
    let container = project.and_then(|p| p.container(&grant.container));
    // SECURITY: only the containers the config says exist are opened (`any_container`); a
    // folder the store holds beside them is no container, however the link was signed.
    let exists = project.is_some_and(|p| p.has_container(&grant.container));
    let head = req.method() == http::Method::HEAD;
    let fetched = if exists {
        let ask = Ask {
            head,
            headers: req.headers(),
        };
        let (p, c, o) = (&grant.project, &grant.container, &grant.object);
        state.backend.fetch(p, c, o, ask).await
    } else {
        Err(BackendError::NotFound)
    };
    let mut resp = match fetched {
        Ok(fetched) => delivery::respond(&prepared, fetched, head, now),
        Err(e) => {
            let failed = Denied::store(protocol, &e, grant, exists);
            note.reason = Some(failed.reason());
            failed.render()
        }
    };
    if let Some(c) = container {
        delivery::cors::decorate(&c.cors_origins, req.headers(), resp.headers_mut());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request's future is as large as the largest one it may await, and hyper keeps it
    /// in the connection's task: the upstream stores' and the API's futures (kilobytes each)
    /// are boxed so a link served from a filesystem does not carry them.
    #[test]
    fn a_requests_future_does_not_carry_the_upstream_or_api_futures() {
        let cfg = crate::config::Config::parse(
            "[backend]\nkind = \"fs\"\nroot = \"/\"\n",
            std::path::Path::new("/"),
        )
        .expect("a config");
        let state = State::new(cfg).expect("a state");
        let req = Request::new(http_body_util::Empty::<bytes::Bytes>::new());
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let handled = handle_noted(&state, req, peer);
        let size = std::mem::size_of_val(&handled);
        assert!(size <= 2048, "the request future is {size} bytes");
    }
}
