//! The one place that decides whether a request may have the object its link names: the
//! method, the clock, the link cache (read and filled here only) and the protocol's verifier.
//!
//! Links are checked without awaiting anything, so the request's one await (the backend's
//! open) sits one future deep: each level of nesting would move the whole future once more.

use std::sync::Arc;

use http::{Method, Request};

use crate::app::denied::Denied;
use crate::app::{links, State};
use crate::auth::s3::{S3Error, S3Request, Scheme};
use crate::auth::{self, Grant};
use crate::clock::unix_now;
use crate::delivery::Prepared;
use crate::forwarded::Origin;
use crate::outcome::Reason;
use crate::query::Query;
use crate::router::{S3Route, SwiftRoute};
use crate::share::Protocol;

/// An object request's route: what `authorize` checks.
pub enum Link<'r, 'a> {
    Swift(&'r SwiftRoute<'a>),
    S3(&'r S3Route<'a>),
}

/// What a checked link lets this request have.
pub struct Access {
    pub prepared: Arc<Prepared>,
    /// The time the link was checked at, which delivery's dates count from.
    pub now: u64,
    /// The link's protocol, which shapes any later failure (see `Denied::store`).
    pub protocol: Protocol,
}

/// A verifier's answer: the grant, and whether the link cache may keep it (its signature
/// covered nothing but the cache's key).
struct Granted {
    grant: Grant,
    keep: bool,
}

pub fn authorize<B>(
    state: &State,
    req: &Request<B>,
    link: Link<'_, '_>,
    query: &Query<'_>,
    origin: &Origin<'_>,
) -> Result<Access, Denied> {
    let method = req.method();
    let protocol = match link {
        Link::Swift(_) => Protocol::Swift,
        Link::S3(_) => Protocol::S3,
    };
    if method != Method::GET && method != Method::HEAD {
        return Err(Denied::Method(protocol, method.clone()));
    }
    let now = unix_now();
    let access = |prepared| Access {
        prepared,
        now,
        protocol,
    };
    match link {
        Link::Swift(r) => {
            // The cache is asked first: only a tempurl verified before can be in it, since
            // public grants have no expiry and are never kept.
            let key = links::key(method.as_str(), "", req.uri().path(), query.raw());
            cached_or_verify(state, key, now, origin, || {
                swift(state, req, r, query, origin, now)
            })
            .map(access)
        }
        Link::S3(r) => {
            // SECURITY: the signature is checked over the path bucket and key were taken
            // from, mount included; no header takes part in it.
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
            // The cache is asked before the query is read: a repeat of a verified link
            // needs neither its scheme nor its parameters.
            let key = auth::s3::cacheable(&s3req)
                .then(|| {
                    links::key(
                        method.as_str(),
                        s3req.host.unwrap_or(""),
                        s3req.signed_path,
                        query.raw(),
                    )
                })
                .flatten();
            cached_or_verify(state, key, now, origin, || s3(state, &s3req, r, now)).map(access)
        }
    }
}

/// The cache's answer for `key`, or `verify`'s, kept when it may be. A refusal is counted.
fn cached_or_verify(
    state: &State,
    key: Option<links::Key<'_>>,
    now: u64,
    origin: &Origin<'_>,
    verify: impl FnOnce() -> Result<Granted, auth::Denied>,
) -> Result<Arc<Prepared>, Denied> {
    if let Some(hit) = key.and_then(|k| state.links.get(k, now, origin.client_ip)) {
        return Ok(hit);
    }
    // The handler counts the refusal, with its reason.
    let granted = verify().map_err(Denied::Link)?;
    let prepared = Arc::new(Prepared::new(granted.grant));
    if let Some(k) = key.filter(|_| granted.keep) {
        state.links.put(k, &prepared);
    }
    Ok(prepared)
}

/// A Swift link's grant: a public container's, or a tempurl's.
fn swift<B>(
    state: &State,
    req: &Request<B>,
    r: &SwiftRoute<'_>,
    query: &Query<'_>,
    origin: &Origin<'_>,
    now: u64,
) -> Result<Granted, auth::Denied> {
    let cfg = &state.config;
    if !auth::swift::is_tempurl(query) {
        let public = r
            .account()
            .strip_prefix(cfg.swift.reseller_prefix.as_str())
            .and_then(|p| cfg.project(p))
            .and_then(|p| p.container(r.container()).map(|c| (p, c)))
            .filter(|(_, c)| c.public);
        return match public {
            // No expiry: the cache does not keep it either way.
            Some((p, c)) => Ok(Granted {
                grant: Grant::public(&p.id, &c.name, r.object()),
                keep: false,
            }),
            None => Err(auth::Denied::Swift(Reason::Unsigned)),
        };
    }
    let path = auth::swift::SwiftPath {
        path: &r.path,
        account: r.account(),
        container: r.container(),
        object: r.object(),
    };
    let grant = auth::swift::verify(cfg, &path, req.method(), query, origin.client_ip, now)?;
    // A tempurl's signature covers the method, the path and the query: the cache's key.
    Ok(Granted { grant, keep: true })
}

/// An S3 request's grant: a public bucket's (unsigned), or a presigned or signed request's.
fn s3(
    state: &State,
    s3req: &S3Request<'_>,
    r: &S3Route<'_>,
    now: u64,
) -> Result<Granted, auth::Denied> {
    let cfg = &state.config;
    match auth::s3::scheme(s3req)? {
        Scheme::Unsigned => match cfg.public_bucket(&r.bucket) {
            // Unsigned: no `response-*` override is believed.
            Some((p, c)) => Ok(Granted {
                grant: Grant::public(&p.id, &c.name, &r.key),
                keep: false,
            }),
            None => Err(S3Error::access_denied("Access Denied")
                .because(Reason::Unsigned)
                .into()),
        },
        signed => Ok(Granted {
            grant: auth::s3::verify(cfg, s3req, signed, now)?,
            keep: auth::s3::keepable(s3req, signed),
        }),
    }
}
