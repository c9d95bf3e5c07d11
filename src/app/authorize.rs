//! The one place that decides whether a request may have the object its link names: the
//! method, the clock, the link cache (read and filled here only) and the protocol's verifier.
//!
//! Links are checked without awaiting anything, so the request's one await (the backend's
//! open) sits one future deep: each level of nesting would move the whole future once more.

use std::sync::Arc;

use http::{Method, Request};

use crate::app::denied::Denied;
use crate::app::links::{self, Verified};
use crate::app::State;
use crate::auth::s3::{S3Error, S3Request, Scheme};
use crate::auth::{self, Grant};
use crate::backend::BackendError;
use crate::clock::unix_now;
use crate::delivery::Prepared;
use crate::forwarded::Origin;
use crate::keys::StoreKeys;
use crate::outcome::{Kind, Reason};
use crate::query::Query;
use crate::router::{S3Route, SwiftRoute};
use crate::share::Protocol;

/// An object request's route: what `authorize` checks.
pub enum Link<'r, 'a> {
    /// With the keys its store keeps, read beforehand for a `keys_from_store` project.
    Swift(&'r SwiftRoute<'a>, Option<&'r StoreKeys>),
    S3(&'r S3Route<'a>),
}

/// What a checked link lets this request have.
pub struct Access {
    pub prepared: Arc<Prepared>,
    /// The time the link was checked at, which delivery's dates count from.
    pub now: u64,
    /// The link's protocol, which shapes any later failure (see `Denied::store`).
    pub protocol: Protocol,
    /// The protocol as the log and the metrics name it (which S3 scheme, say).
    pub kind: Kind,
}

/// A verifier's answer: the grant, and whether the link cache may keep it (its signature
/// covered nothing but the cache's key), and until when (keys read from the store).
struct Granted {
    grant: Grant,
    kind: Kind,
    keep: bool,
    until: Option<u64>,
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
        Link::Swift(..) => Protocol::Swift,
        Link::S3(_) => Protocol::S3,
    };
    if method != Method::GET && method != Method::HEAD {
        return Err(Denied::Method(protocol, method.clone()));
    }
    let now = unix_now();
    let access = |v: Verified| Access {
        prepared: v.prepared,
        now,
        protocol,
        kind: v.kind,
    };
    match link {
        Link::Swift(r, store) => {
            // The cache is asked first: only a tempurl verified before can be in it, since
            // public grants have no expiry and are never kept.
            let key = links::key(method.as_str(), "", req.uri().path(), query.raw());
            cached_or_verify(state, key, now, origin, || {
                swift(state, req, r, query, origin, now, store)
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

/// The keys the store keeps for a Swift link's account and container, read (or taken from
/// their cache) before the link is checked: only for a tempurl of a `keys_from_store`
/// project, and only for a container the project has. `Ok(None)`: the link is checked with
/// the config's keys alone. `Err`: the store could not say, in the shape of its failure.
pub async fn store_keys(
    state: &State,
    r: &SwiftRoute<'_>,
    query: &Query<'_>,
) -> Result<Option<StoreKeys>, Denied> {
    let cfg = &state.config;
    let project = r
        .account()
        .strip_prefix(cfg.swift.reseller_prefix.as_str())
        .and_then(|p| cfg.project(p))
        .filter(|p| p.keys_from_store && p.has_container(r.container()));
    let Some(p) = project.filter(|_| auth::swift::is_tempurl(query)) else {
        return Ok(None);
    };
    match state
        .backend
        .store_keys(&p.id, r.container(), unix_now())
        .await
    {
        Some(Ok(keys)) => Ok(Some(keys)),
        // A container name the store cannot hold has no keys there.
        Some(Err(BackendError::NotFound)) | None => Ok(None),
        Some(Err(e)) => {
            // Names the link's place in the log line; it grants nothing.
            let place = Grant::public(&p.id, r.container(), r.object());
            Err(Denied::store(Protocol::Swift, &e, &place, true))
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
) -> Result<Verified, Denied> {
    if let Some(hit) = key.and_then(|k| state.links.get(k, now, origin.client_ip)) {
        return Ok(hit);
    }
    // The handler counts the refusal, with its reason.
    let granted = verify().map_err(Denied::Link)?;
    let verified = Verified {
        prepared: Arc::new(Prepared::new(granted.grant)),
        kind: granted.kind,
    };
    match (key.filter(|_| granted.keep), granted.until) {
        (Some(k), None) => state.links.put(k, &verified),
        (Some(k), Some(until)) => state.links.put_until(k, &verified, until),
        (None, _) => {}
    }
    Ok(verified)
}

/// A Swift link's grant: a public container's, or a tempurl's.
fn swift<B>(
    state: &State,
    req: &Request<B>,
    r: &SwiftRoute<'_>,
    query: &Query<'_>,
    origin: &Origin<'_>,
    now: u64,
    store: Option<&StoreKeys>,
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
                kind: Kind::Swift,
                keep: false,
                until: None,
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
    let ip = origin.client_ip;
    let grant = auth::swift::verify_with(cfg, &path, req.method(), query, ip, now, store)?;
    // A tempurl's signature covers the method, the path and the query: the cache's key;
    // with the store's keys, only as long as they are believed.
    Ok(Granted {
        grant,
        kind: Kind::Swift,
        keep: true,
        until: store.map(|s| s.until),
    })
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
                kind: Kind::S3,
                keep: false,
                until: None,
            }),
            None => Err(S3Error::access_denied("Access Denied")
                .because(Reason::Unsigned)
                .into()),
        },
        signed => Ok(Granted {
            grant: auth::s3::verify(cfg, s3req, signed, now)?,
            kind: signed.kind(),
            keep: auth::s3::keepable(s3req, signed),
            until: None,
        }),
    }
}
