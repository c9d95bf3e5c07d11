//! AWS's error response: the status, code and message S3 clients understand, as XML, and
//! the request id AWS sends with it.

use std::sync::atomic::{AtomicU64, Ordering};

use http::StatusCode;

use crate::outcome::Reason;

/// An S3 error: the status, AWS's code and message, and the extra elements AWS adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<(&'static str, String)>,
    /// For the log and the metrics only; never part of the XML.
    pub reason: Reason,
}

/// The reason an AWS error code stands for.
fn reason_of(code: &str) -> Reason {
    match code {
        "SignatureDoesNotMatch" => Reason::BadSignature,
        "InvalidAccessKeyId" => Reason::UnknownKey,
        "AccessDenied" => Reason::AccessDenied,
        "RequestTimeTooSkewed" => Reason::ClockSkew,
        "MethodNotAllowed" => Reason::WrongMethod,
        "NoSuchKey" | "NoSuchBucket" => Reason::NotFound,
        "ServiceUnavailable" => Reason::StoreFailed,
        _ => Reason::BadRequest,
    }
}

impl S3Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            reason: reason_of(code),
        }
    }

    /// Names the reason where the code alone does not tell it (`AccessDenied`'s kinds).
    pub fn because(mut self, reason: Reason) -> S3Error {
        self.reason = reason;
        self
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.details.push((name, value.into()));
        self
    }

    pub fn access_denied(message: &str) -> S3Error {
        S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    pub fn query_parameters(message: impl Into<String>) -> S3Error {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            message,
        )
    }

    pub fn header_malformed(message: impl Into<String>) -> S3Error {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationHeaderMalformed",
            message,
        )
    }

    pub fn invalid_access_key(access_key: &str) -> S3Error {
        S3Error::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
        .with("AWSAccessKeyId", access_key)
    }

    pub fn invalid_argument(message: &str, name: &str, value: &str) -> S3Error {
        S3Error::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
            .with("ArgumentName", name)
            .with("ArgumentValue", value)
    }

    /// AWS shows what it signed so that a client author can find their mistake.
    pub fn signature_mismatch(
        access_key: &str,
        string_to_sign: &[u8],
        provided: &str,
        canonical_request: Option<&[u8]>,
    ) -> S3Error {
        let mut e = S3Error::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
        .with("AWSAccessKeyId", access_key)
        .with("StringToSign", String::from_utf8_lossy(string_to_sign))
        .with("SignatureProvided", provided)
        .with("StringToSignBytes", spaced_hex(string_to_sign));
        if let Some(cr) = canonical_request {
            e = e
                .with("CanonicalRequest", String::from_utf8_lossy(cr))
                .with("CanonicalRequestBytes", spaced_hex(cr));
        }
        e
    }

    pub fn no_such_key(key: &str) -> S3Error {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    }

    pub fn no_such_bucket(bucket: &str) -> S3Error {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
        .with("BucketName", bucket)
    }

    pub fn method_not_allowed(method: &str) -> S3Error {
        S3Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
        .with("Method", method)
        .with("ResourceType", "OBJECT")
    }

    /// The body AWS sends, `RequestId` last.
    pub fn xml(&self, request_id: &str) -> String {
        let mut s = String::with_capacity(256);
        s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
        element(&mut s, "Code", self.code);
        element(&mut s, "Message", &self.message);
        for (name, value) in &self.details {
            element(&mut s, name, value);
        }
        element(&mut s, "RequestId", request_id);
        s.push_str("</Error>");
        s
    }
}

fn spaced_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn element(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    xml_escape_into(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Escapes text for an XML element; characters XML 1.0 cannot hold become U+FFFD.
pub fn xml_escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// A request id for the error body and `x-amz-request-id`: unique within a run, and not
/// guessable from the previous one.
pub fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let mut b = [0u8; 8];
        let _ = getrandom::getrandom(&mut b);
        u64::from_le_bytes(b)
    });
    // splitmix64: a bijection, so distinct counters give distinct ids.
    let mut z = COUNTER
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(seed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("{:016X}", z ^ (z >> 31))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_xml_has_aws_shape_and_escapes_values() {
        let e = S3Error::no_such_key("a<&>\"'\u{1}.txt");
        let xml = e.xml("REQ1");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&lt;&amp;&gt;&quot;&apos;\u{FFFD}.txt</Key><RequestId>REQ1</RequestId></Error>"
        );
    }

    #[test]
    fn request_ids_differ() {
        assert_ne!(request_id(), request_id());
    }
}
