//! The `multipart/mixed` answer of federation media (spec: server-server API "Content
//! repository"): a JSON metadata part, then either the file (with its `Content-Type` and
//! `Content-Disposition`) or a `Location` header pointing elsewhere.
//!
//! Both directions stream: [`multipart_body`] wraps a stored file as it is read, and
//! [`read_multipart`] hands out the file part of a remote answer as a stream that ends at the
//! closing delimiter, so a remote file goes to the store chunk by chunk. ruma's types for
//! these endpoints hold the whole file in memory, which the media limits forbid.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use memchr::memmem;
use tokio_util::io::ReaderStream;

use crate::{BodyStream, ReadStream};

/// Most bytes of a part's headers, and of the metadata part.
const MAX_HEADERS: usize = 16 * 1024;
const MAX_METADATA: usize = 64 * 1024;

/// A new random boundary.
pub fn new_boundary() -> String {
    format!("accord-{}", crate::new_media_id())
}

/// The `Content-Type` of a multipart answer with `boundary`.
pub fn multipart_content_type(boundary: &str) -> String {
    format!("multipart/mixed; boundary={boundary}")
}

/// The answer's body: empty metadata, then the file read from `reader` (`size` bytes), with its
/// content type and disposition. Returns the body and its total length.
pub fn multipart_body(
    boundary: &str,
    content_type: &str,
    disposition: &str,
    reader: ReadStream,
    size: u64,
) -> (BodyStream, u64) {
    let head = Bytes::from(format!(
        "--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n--{boundary}\r\n\
         Content-Type: {content_type}\r\nContent-Disposition: {disposition}\r\n\r\n"
    ));
    let tail = Bytes::from(format!("\r\n--{boundary}--\r\n"));
    let length = head.len() as u64 + size + tail.len() as u64;
    let body = futures::stream::once(async move { Ok(head) })
        .chain(ReaderStream::with_capacity(reader, crate::READ_CHUNK))
        .chain(futures::stream::once(async move { Ok(tail) }));
    (Box::pin(body), length)
}

/// The boundary parameter of a `multipart/mixed` content type.
pub fn boundary_of(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|value| !value.is_empty() && value.len() <= 70)
    })
}

/// The second part of a federation media answer.
pub enum RemotePart {
    /// The file itself, streamed until the closing delimiter (an early end is an error).
    File {
        /// Its `Content-Type`, if given.
        content_type: Option<String>,
        /// Its `Content-Disposition`, if given.
        content_disposition: Option<String>,
        /// Its bytes.
        body: BodyStream,
    },
    /// Where the file can be fetched instead.
    Location(String),
}

/// Why an answer is not a well-formed federation media answer.
#[derive(Debug, thiserror::Error)]
#[error("malformed multipart answer: {0}")]
pub struct MultipartError(String);

fn malformed(reason: impl Into<String>) -> MultipartError {
    MultipartError(reason.into())
}

/// Reads the metadata part of `body` (multipart with `boundary`) and the headers of the second
/// part; the file itself is left in the stream returned.
pub async fn read_multipart(body: BodyStream, boundary: &str) -> Result<RemotePart, MultipartError> {
    let mut reader = PartReader {
        body,
        // The first delimiter may open the body without the CRLF before it: start with one.
        buffer: BytesMut::from(&b"\r\n"[..]),
        delimiter: format!("\r\n--{boundary}").into_bytes(),
        searched: 0,
    };
    reader.skip_to_delimiter(MAX_METADATA).await?;
    let _metadata_headers = reader.headers().await?;
    reader.skip_to_delimiter(MAX_METADATA).await?;
    let headers = reader.headers().await?;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    };
    if let Some(location) = header("location") {
        return Ok(RemotePart::Location(location));
    }
    Ok(RemotePart::File {
        content_type: header("content-type"),
        content_disposition: header("content-disposition"),
        body: Box::pin(reader.into_part_stream()),
    })
}

/// A multipart body being read, with what has arrived but not been used.
struct PartReader {
    body: BodyStream,
    buffer: BytesMut,
    delimiter: Vec<u8>,
    /// How much of the start of `buffer` is known to hold no delimiter, so a body arriving in
    /// tiny chunks is not searched again from the start at each one.
    searched: usize,
}

impl PartReader {
    /// Where the next delimiter starts in `buffer`, if it has arrived.
    fn find_delimiter(&mut self) -> Option<usize> {
        let from = self.searched.min(self.buffer.len());
        let found = memmem::find(&self.buffer[from..], &self.delimiter).map(|at| from + at);
        if found.is_none() {
            self.searched = self.buffer.len().saturating_sub(self.delimiter.len() - 1);
        }
        found
    }

    /// Drops `count` bytes from the front of `buffer`.
    fn consume(&mut self, count: usize) -> Bytes {
        self.searched = self.searched.saturating_sub(count);
        self.buffer.split_to(count).freeze()
    }

    /// Appends the next chunk; false at the end of the body.
    async fn fill(&mut self) -> Result<bool, MultipartError> {
        match self.body.next().await {
            Some(Ok(chunk)) => {
                self.buffer.extend_from_slice(&chunk);
                Ok(true)
            }
            Some(Err(err)) => Err(malformed(format!("the body failed: {err}"))),
            None => Ok(false),
        }
    }

    /// Drops everything up to and including the next delimiter and the line end after it,
    /// refusing more than `limit` bytes before it; an error at a closing delimiter.
    async fn skip_to_delimiter(&mut self, limit: usize) -> Result<(), MultipartError> {
        loop {
            if let Some(at) = self.find_delimiter() {
                self.consume(at + self.delimiter.len());
                return self.line_end_after_delimiter().await;
            }
            if self.buffer.len() > limit + self.delimiter.len() {
                return Err(malformed("a part before the file is too large"));
            }
            if !self.fill().await? {
                return Err(malformed("the body ended before the file part"));
            }
        }
    }

    /// After a delimiter: optional spaces, then CRLF (another part follows); `--` closes.
    async fn line_end_after_delimiter(&mut self) -> Result<(), MultipartError> {
        loop {
            let padding = self.buffer.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
            let rest = &self.buffer[padding..];
            if rest.starts_with(b"\r\n") {
                self.consume(padding + 2);
                return Ok(());
            }
            if rest.starts_with(b"--") {
                return Err(malformed("the body closed before the file part"));
            }
            if rest.len() >= 2 || self.buffer.len() > 256 {
                return Err(malformed("a delimiter is not followed by a line end"));
            }
            if !self.fill().await? {
                return Err(malformed("the body ended after a delimiter"));
            }
        }
    }

    /// The headers of the part that starts here, and the blank line after them consumed.
    async fn headers(&mut self) -> Result<Vec<(String, String)>, MultipartError> {
        loop {
            if self.buffer.starts_with(b"\r\n") {
                // A part without headers.
                self.consume(2);
                return Ok(Vec::new());
            }
            let mut slots = [httparse::EMPTY_HEADER; 16];
            match httparse::parse_headers(&self.buffer, &mut slots) {
                Ok(httparse::Status::Complete((length, parsed))) => {
                    let headers = parsed
                        .iter()
                        .map(|header| {
                            (
                                header.name.to_owned(),
                                String::from_utf8_lossy(header.value).trim().to_owned(),
                            )
                        })
                        .collect();
                    self.consume(length);
                    return Ok(headers);
                }
                Ok(httparse::Status::Partial) if self.buffer.len() <= MAX_HEADERS => {
                    if !self.fill().await? {
                        return Err(malformed("the body ended inside a part's headers"));
                    }
                }
                Ok(httparse::Status::Partial) => return Err(malformed("a part's headers are too large")),
                Err(err) => return Err(malformed(format!("a part's headers: {err}"))),
            }
        }
    }

    /// The rest of the current part, chunk by chunk, ending at the next delimiter; the body
    /// ending first is an error (a cut transfer must not be stored as the whole file).
    fn into_part_stream(self) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
        futures::stream::try_unfold(Some(self), |state| async move {
            let Some(mut reader) = state else {
                return Ok(None);
            };
            loop {
                if let Some(at) = reader.find_delimiter() {
                    let last = reader.consume(at);
                    return Ok(Some((last, None)));
                }
                // Everything but a tail that could be the start of the delimiter is file.
                let safe = reader.buffer.len().saturating_sub(reader.delimiter.len());
                if safe >= 64 * 1024 {
                    let chunk = reader.consume(safe);
                    return Ok(Some((chunk, Some(reader))));
                }
                let more = reader.fill().await.map_err(std::io::Error::other)?;
                if !more {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the remote file ended before its closing delimiter",
                    ));
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bytes` cut into chunks of `size`, as a body.
    fn chunked(bytes: Vec<u8>, size: usize) -> BodyStream {
        let chunks: Vec<std::io::Result<Bytes>> = bytes.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        Box::pin(futures::stream::iter(chunks))
    }

    async fn collect(mut body: BodyStream) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    async fn served(file: &[u8]) -> (Vec<u8>, u64) {
        let reader: ReadStream = Box::pin(std::io::Cursor::new(file.to_vec()));
        let (body, length) = multipart_body(
            "b0undary",
            "image/png",
            "inline; filename=\"a.png\"",
            reader,
            file.len() as u64,
        );
        (collect(body).await.expect("body"), length)
    }

    #[tokio::test]
    async fn what_is_served_reads_back_at_every_chunk_size() {
        // Bytes that look like the start of the delimiter inside the file.
        let mut file = b"\r\n--b0undar".repeat(5000);
        file.extend_from_slice(&[0, 1, 2, 255]);
        let (whole, length) = served(&file).await;
        assert_eq!(whole.len() as u64, length);
        for size in [1, 7, 100, 4096, 1 << 20] {
            let part = read_multipart(chunked(whole.clone(), size), "b0undary")
                .await
                .expect("parsed");
            let RemotePart::File {
                content_type,
                content_disposition,
                body,
            } = part
            else {
                panic!("expected a file");
            };
            assert_eq!(content_type.as_deref(), Some("image/png"));
            assert_eq!(content_disposition.as_deref(), Some("inline; filename=\"a.png\""));
            assert_eq!(collect(body).await.expect("file"), file, "chunk size {size}");
        }
    }

    #[tokio::test]
    async fn a_cut_answer_is_an_error_not_a_shorter_file() {
        let (whole, _) = served(&[7u8; 300_000]).await;
        let cut = whole[..200_000].to_vec();
        let Ok(RemotePart::File { body, .. }) = read_multipart(chunked(cut, 8192), "b0undary").await else {
            panic!("the headers arrived whole");
        };
        let err = collect(body).await.expect_err("cut");
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn a_location_part_and_a_preamble_are_understood() {
        let text = "preamble\r\n--xyz\r\nContent-Type: application/json\r\n\r\n{}\r\n--xyz\r\n\
                    Location: https://cdn.example/file\r\n\r\n\r\n--xyz--\r\n";
        let part = read_multipart(chunked(text.as_bytes().to_vec(), 3), "xyz")
            .await
            .expect("parsed");
        assert!(matches!(part, RemotePart::Location(url) if url == "https://cdn.example/file"));
    }

    #[tokio::test]
    async fn malformed_answers_are_refused() {
        let closed_early = "--xyz\r\n\r\n{}\r\n--xyz--\r\n";
        let no_delimiter = "just some bytes";
        let huge_metadata = format!("--xyz\r\n\r\n{}", "x".repeat(200_000));
        for text in [closed_early.to_owned(), no_delimiter.to_owned(), huge_metadata] {
            assert!(read_multipart(chunked(text.into_bytes(), 1000), "xyz").await.is_err());
        }
    }

    #[test]
    fn boundaries_are_read_from_the_content_type() {
        assert_eq!(boundary_of("multipart/mixed; boundary=abc").as_deref(), Some("abc"));
        assert_eq!(boundary_of("Multipart/Mixed;boundary=\"a b\"").as_deref(), Some("a b"));
        assert_eq!(boundary_of("multipart/form-data; boundary=abc"), None);
        assert_eq!(boundary_of("multipart/mixed"), None);
    }
}
