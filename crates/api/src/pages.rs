//! Server-rendered pages for people in a browser (single sign-on's confirmation, errors, the
//! identity provider picker). Self-contained: inline style, no scripts, no fonts or images
//! from elsewhere, so they work on air-gapped networks and under a strict Content Security
//! Policy. Accessible: a language, one heading, real links and buttons, visible focus, and
//! text contrast above WCAG AA.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f4f6f8;\
color:#1b1f24;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}\
main{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:2rem;\
max-width:26rem;width:calc(100% - 4rem)}h1{font-size:1.4rem;margin:0 0 1rem}p{line-height:1.5}\
a.button,button{display:block;width:100%;box-sizing:border-box;text-align:center;padding:.75rem;\
margin:.5rem 0;border-radius:8px;background:#0a5cc2;color:#fff;text-decoration:none;border:0;\
font-size:1rem;cursor:pointer}a.button.secondary{background:#e3e8ee;color:#1b1f24}\
a:focus,button:focus,input:focus{outline:3px solid #f5a623;outline-offset:2px}\
label{display:block;margin:.75rem 0 .25rem;font-weight:600}input{width:100%;box-sizing:border-box;\
padding:.6rem;font-size:1rem;border:1px solid #8a94a0;border-radius:6px}\
.error{color:#a4161a}.small{font-size:.9rem;color:#4a5561}";

/// A whole page: `title` as the heading, `body` (already escaped HTML) under it.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The value of cookie `name` among the request's `Cookie` headers (the cookies that tie a
/// login's pages to the browser that started it).
pub(crate) fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A page saying what went wrong and what to do.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Login failed",
        &format!(
            "<p class=\"error\" role=\"alert\">{}</p><p class=\"small\">Go back to your Matrix app and start the login again.</p>",
            escape(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
