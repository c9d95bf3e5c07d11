//! Link verification. Each protocol checks its own link and, when it holds, yields a `Grant`:
//! everything the rest of the request may rely on. Nothing after this step re-reads the query.

pub mod cache;
pub mod s3;
pub mod sigv2;
pub mod sigv4;
pub mod swift;

use std::net::IpAddr;

use ipnet::IpNet;

/// SigV4's own cap on a presigned URL's lifetime: 7 days.
pub const MAX_S3_LIFETIME: u64 = 604_800;

/// What a verified link (or a public container) allows this request.
#[derive(Debug, Clone)]
pub struct Grant {
    pub project: String,
    pub container: String,
    pub object: String,
    pub disposition: Disposition,
    /// Unix seconds after which the link no longer works; `None` for public containers.
    pub expires_at: Option<u64>,
    /// Response headers the link asked for (S3 `response-*`), already validated.
    pub overrides: Overrides,
    /// The only addresses the link works from (Swift's `temp_url_ip_range`). Checked on
    /// every request, cached or not, so the link cache need not know who asks.
    pub clients: Option<IpNet>,
}

impl Grant {
    /// What anyone may do with an object of a public container: read it, inline, with no
    /// expiry and no overrides.
    pub fn public(project: &str, container: &str, object: &str) -> Grant {
        Grant {
            project: project.to_string(),
            container: container.to_string(),
            object: object.to_string(),
            disposition: Disposition {
                inline: true,
                filename: None,
            },
            expires_at: None,
            overrides: Overrides::default(),
            clients: None,
        }
    }

    /// Whether the link may be used from `client`.
    pub fn admits(&self, client: IpAddr) -> bool {
        match self.clients {
            // An IPv4 client seen through an IPv6 socket must still match an IPv4 range;
            // an unknown client (`forwarded::UNKNOWN_CLIENT`) matches none, not even `::/0`.
            Some(net) => {
                let client = crate::forwarded::canonical(client);
                !client.is_unspecified() && net.contains(&client)
            }
            None => true,
        }
    }
}

/// View (`inline`) or download (`attachment`), and the name to save under.
#[derive(Debug, Clone, Default)]
pub struct Disposition {
    pub inline: bool,
    pub filename: Option<String>,
}

/// S3 `response-*` overrides: each replaces the header Keyhole would send.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    pub content_language: Option<String>,
    pub content_encoding: Option<String>,
}

/// Why a request was refused, shaped for its protocol's error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Swift: one 401 for every failure.
    Swift,
    /// S3: AWS's error code, message and details (for `SignatureDoesNotMatch`, what we signed).
    S3(Box<s3::S3Error>),
}
