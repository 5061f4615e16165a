//! How a stored file is served to a browser-based client without becoming an attack on it
//! (spec: client-server API, content repository, "Serving inline content"): `inline` only
//! for types a browser renders as what they claim to be, `attachment` for everything else,
//! and headers that keep a served file from running as a page.

use ruma::http_headers::{ContentDisposition, ContentDispositionType};

/// The types the spec lists as safe to serve `inline` (compared on the type's essence, without
/// parameters, case-insensitively).
const INLINE_SAFE_TYPES: &[&str] = &[
    "text/css",
    "text/plain",
    "text/csv",
    "application/json",
    "application/ld+json",
    "image/jpeg",
    "image/gif",
    "image/png",
    "image/apng",
    "image/webp",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "audio/mp4",
    "audio/webm",
    "audio/aac",
    "audio/mpeg",
    "audio/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wav",
    "audio/flac",
    "audio/x-flac",
];

/// Headers on every served file: the spec's recommended sandboxing policy,
/// `Cross-Origin-Resource-Policy: cross-origin` (spec v1.4, so web clients on another origin
/// may use the file), and `nosniff` so a browser never second-guesses the declared type.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; \
         style-src 'unsafe-inline'; object-src 'self';",
    ),
    ("cross-origin-resource-policy", "cross-origin"),
    ("x-content-type-options", "nosniff"),
];

/// Whether a file of `content_type` may be served `inline`.
pub fn is_inline_safe(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    INLINE_SAFE_TYPES.iter().any(|safe| safe.eq_ignore_ascii_case(essence))
}

/// The `Content-Disposition` of a served file: `inline` for safe types, else `attachment`,
/// with the filename (`filename=` quoted as needed for ASCII, RFC 8187 `filename*=` for the
/// rest, as ruma writes it).
pub fn content_disposition(content_type: &str, filename: Option<&str>) -> String {
    disposition(content_type, filename).to_string()
}

/// [`content_disposition`] as ruma's header type (for a federation multipart answer).
pub fn disposition(content_type: &str, filename: Option<&str>) -> ContentDisposition {
    let kind = if is_inline_safe(content_type) {
        ContentDispositionType::Inline
    } else {
        ContentDispositionType::Attachment
    };
    ContentDisposition::new(kind).with_filename(filename.filter(|name| !name.is_empty()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_types_are_inline() {
        assert!(is_inline_safe("image/png"));
        assert!(is_inline_safe("Text/Plain; charset=utf-8"));
        assert!(!is_inline_safe("text/html"));
        assert!(!is_inline_safe("image/svg+xml"));
        assert!(!is_inline_safe("application/octet-stream"));
    }

    #[test]
    fn filenames_are_quoted_or_encoded() {
        assert_eq!(
            content_disposition("image/png", Some("cat.png")),
            "inline; filename=cat.png"
        );
        assert_eq!(
            content_disposition("text/html", Some("a b;c.html")),
            "attachment; filename=\"a b;c.html\""
        );
        assert_eq!(
            content_disposition("text/plain", Some("☃.txt")),
            "inline; filename*=utf-8''%E2%98%83.txt"
        );
        assert_eq!(content_disposition("text/html", None), "attachment");
    }
}
