//! What a request was and how it ended, as fixed labels: the protocol it spoke and, for a
//! refusal, the reason. Both reach the access log and the metrics only, never a response: a
//! client must not learn which part of its link was wrong.

use std::net::IpAddr;

/// Why a request was refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Expired,
    NotYetValid,
    /// The clock of a header-signed request is too far from ours.
    ClockSkew,
    BadSignature,
    /// No such access key (S3), or no key for the account (Swift).
    UnknownKey,
    WrongMethod,
    /// The client is outside the link's `temp_url_ip_range`.
    IpRange,
    /// The link outlives `max_link_lifetime`.
    TooLong,
    /// A digest `allowed_digests` does not list.
    Digest,
    /// A prefix link used for an object outside its prefix.
    OutsidePrefix,
    /// Unsigned, and not for a public container.
    Unsigned,
    /// Refused by S3 rules that are none of the above.
    AccessDenied,
    /// Malformed: a missing, repeated or unparsable parameter, header or path.
    BadRequest,
    /// The link held; the object is not there.
    NotFound,
    /// The link held; the store refused to read the object.
    StoreDenied,
    /// The link held; the store failed.
    StoreFailed,
    /// The link held; an upstream store could not be reached or refused Keyhole (502).
    StoreUnavailable,
    /// The link held; an upstream store did not answer in time (504).
    StoreTimeout,
    /// The API's bearer token is missing or unknown.
    BadToken,
}

impl Reason {
    /// Whether the store, not the link, failed: counted as a backend error too.
    pub fn is_backend(self) -> bool {
        matches!(
            self,
            Reason::StoreDenied
                | Reason::StoreFailed
                | Reason::StoreUnavailable
                | Reason::StoreTimeout
        )
    }

    pub const ALL: [Reason; 19] = [
        Reason::Expired,
        Reason::NotYetValid,
        Reason::ClockSkew,
        Reason::BadSignature,
        Reason::UnknownKey,
        Reason::WrongMethod,
        Reason::IpRange,
        Reason::TooLong,
        Reason::Digest,
        Reason::OutsidePrefix,
        Reason::Unsigned,
        Reason::AccessDenied,
        Reason::BadRequest,
        Reason::NotFound,
        Reason::StoreDenied,
        Reason::StoreFailed,
        Reason::StoreUnavailable,
        Reason::StoreTimeout,
        Reason::BadToken,
    ];

    /// The log's and the metric label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::ClockSkew => "clock_skew",
            Reason::BadSignature => "bad_signature",
            Reason::UnknownKey => "unknown_key",
            Reason::WrongMethod => "wrong_method",
            Reason::IpRange => "ip_range",
            Reason::TooLong => "lifetime_too_long",
            Reason::Digest => "digest_not_allowed",
            Reason::OutsidePrefix => "outside_prefix",
            Reason::Unsigned => "unsigned",
            Reason::AccessDenied => "access_denied",
            Reason::BadRequest => "bad_request",
            Reason::NotFound => "not_found",
            Reason::StoreDenied => "store_denied",
            Reason::StoreFailed => "store_failed",
            Reason::StoreUnavailable => "store_unavailable",
            Reason::StoreTimeout => "store_timeout",
            Reason::BadToken => "bad_token",
        }
    }
}

/// The protocol a request spoke, as the log and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Swift,
    /// SigV4, presigned or in the Authorization header.
    S3V4,
    S3V2,
    /// An S3 path with no signature (a public bucket), or one claiming several schemes.
    S3,
    Api,
    Ui,
    /// `healthz` and `readyz`.
    Health,
    Metrics,
    /// A CORS preflight.
    Preflight,
    /// No route: a bad host, a bad path, a path nothing serves.
    Other,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Swift,
        Kind::S3V4,
        Kind::S3V2,
        Kind::S3,
        Kind::Api,
        Kind::Ui,
        Kind::Health,
        Kind::Metrics,
        Kind::Preflight,
        Kind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Swift => "swift",
            Kind::S3V4 => "s3-v4",
            Kind::S3V2 => "s3-v2",
            Kind::S3 => "s3",
            Kind::Api => "api",
            Kind::Ui => "ui",
            Kind::Health => "health",
            Kind::Metrics => "metrics",
            Kind::Preflight => "preflight",
            Kind::Other => "other",
        }
    }
}

/// What the handler tells the listener about a request, besides the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note {
    pub kind: Kind,
    pub reason: Option<Reason>,
    /// The client as resolved (a trusted proxy's forwarded client), once it was.
    pub client: Option<IpAddr>,
}

impl Note {
    pub fn new(kind: Kind) -> Note {
        Note {
            kind,
            reason: None,
            client: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Kind, Reason};

    #[test]
    fn all_lists_every_label_once_in_discriminant_order() {
        for (i, r) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(r as usize, i, "{r:?}");
        }
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i, "{k:?}");
        }
        let mut names: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
    }
}
