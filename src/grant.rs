//! What a verified link (or a public container) allows: the one value verification hands to
//! the rest of the request. Below both `auth`, which makes it, and `delivery`, which obeys it.

use std::net::IpAddr;

use ipnet::IpNet;

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

/// The six `response-*` query parameters S3 honours, in the order of `Overrides`' fields.
pub const OVERRIDE_NAMES: [&str; 6] = [
    "response-content-type",
    "response-content-disposition",
    "response-cache-control",
    "response-expires",
    "response-content-language",
    "response-content-encoding",
];

impl Overrides {
    /// The field the parameter `name` (one of `OVERRIDE_NAMES`) sets.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "response-content-type" => &mut self.content_type,
            "response-content-disposition" => &mut self.content_disposition,
            "response-cache-control" => &mut self.cache_control,
            "response-expires" => &mut self.expires,
            "response-content-language" => &mut self.content_language,
            "response-content-encoding" => &mut self.content_encoding,
            _ => return None,
        })
    }
}
