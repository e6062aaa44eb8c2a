//! A guard in front of the multipart parser. The parser buffers a part's headers until
//! it sees their end, without a limit: an unterminated 150 MiB header block would sit
//! in memory. This guard watches the raw body for the part delimiters and fails the
//! body as soon as a header block (or the preamble before the first part, or the
//! epilogue) grows past a limit, or the body has too many parts. File data between
//! delimiters streams through untouched.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use memchr::memmem;

/// The multipart boundary named by a `Content-Type` header, parsed exactly as the
/// multipart parser parses it (quoted parameters included), so both watch the same one.
pub fn boundary(content_type: &str) -> Option<String> {
    multer::parse_boundary(content_type).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the first delimiter.
    Preamble,
    /// Right after a delimiter: `--` (the last one) or a header block.
    Headers,
    /// A part's data: anything until the next delimiter.
    Data,
    /// After the closing delimiter.
    Epilogue,
}

/// Checks the structure of a multipart body as it streams.
pub struct PartGuard<S> {
    inner: S,
    /// `\r\n--boundary`.
    delimiter: Vec<u8>,
    phase: Phase,
    /// Bytes of the current preamble/header block/epilogue seen so far.
    seen: usize,
    /// The end of the previous chunk, for delimiters and header ends split across chunks.
    tail: Vec<u8>,
    parts: usize,
    max_header: usize,
    max_parts: usize,
    failed: bool,
}

impl<S> PartGuard<S> {
    pub fn new(inner: S, boundary: &str, max_header: usize, max_parts: usize) -> Self {
        PartGuard {
            inner,
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            phase: Phase::Preamble,
            seen: 0,
            // The body may start with the delimiter without the line break before it.
            tail: b"\r\n".to_vec(),
            parts: 0,
            max_header,
            max_parts,
            failed: false,
        }
    }

    /// Follows the phases through one chunk; an error names what went over its limit.
    fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        if self.passes_through(chunk) {
            return Ok(());
        }
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(chunk);
        let window = window;
        let mut at = 0;
        loop {
            let rest = &window[at..];
            match self.phase {
                Phase::Preamble | Phase::Data | Phase::Epilogue => {
                    if self.phase == Phase::Epilogue {
                        self.seen += rest.len();
                        if self.seen > self.max_header {
                            return Err("too much data after the last part".into());
                        }
                        return Ok(());
                    }
                    match memmem::find(rest, &self.delimiter) {
                        Some(i) => {
                            self.check_preamble(i)?;
                            at += i + self.delimiter.len();
                            self.phase = Phase::Headers;
                            self.seen = 0;
                        }
                        None => {
                            let keep = rest.len().min(self.delimiter.len() - 1);
                            self.check_preamble(rest.len() - keep)?;
                            self.tail = rest[rest.len() - keep..].to_vec();
                            return Ok(());
                        }
                    }
                }
                Phase::Headers => {
                    if rest.len() < 2 {
                        self.tail = rest.to_vec();
                        return Ok(());
                    }
                    if self.seen == 0 && rest.starts_with(b"--") {
                        self.phase = Phase::Epilogue;
                        at += 2;
                        continue;
                    }
                    match memmem::find(rest, b"\r\n\r\n") {
                        Some(i) if self.seen + i + 4 <= self.max_header => {
                            self.parts += 1;
                            if self.parts > self.max_parts {
                                return Err(format!("more than {} parts", self.max_parts));
                            }
                            at += i + 4;
                            self.phase = Phase::Data;
                        }
                        _ => {
                            let keep = rest.len().min(3);
                            self.seen += rest.len() - keep;
                            if self.seen + keep > self.max_header {
                                return Err(format!("a part's headers are longer than {} bytes", self.max_header));
                            }
                            self.tail = rest[rest.len() - keep..].to_vec();
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// The common case, without copying the chunk: file data in which no delimiter starts
    /// (neither inside the chunk nor across its start). Only the end is kept for the next.
    fn passes_through(&mut self, chunk: &[u8]) -> bool {
        let keep = self.delimiter.len() - 1;
        if self.phase != Phase::Data || chunk.len() < keep || memmem::find(chunk, &self.delimiter).is_some() {
            return false;
        }
        let mut seam = std::mem::take(&mut self.tail);
        seam.extend_from_slice(&chunk[..keep]);
        let clean = memmem::find(&seam, &self.delimiter).is_none();
        self.tail = if clean { chunk[chunk.len() - keep..].to_vec() } else { seam[..seam.len() - keep].to_vec() };
        clean
    }

    fn check_preamble(&mut self, bytes: usize) -> Result<(), String> {
        if self.phase == Phase::Preamble {
            self.seen += bytes;
            if self.seen > self.max_header {
                return Err(format!("more than {} bytes before the first part", self.max_header));
            }
        }
        Ok(())
    }
}

impl<S, E> Stream for PartGuard<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes, Box<dyn std::error::Error + Send + Sync>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => match self.feed(&chunk) {
                Ok(()) => Poll::Ready(Some(Ok(chunk))),
                Err(why) => {
                    self.failed = true;
                    Poll::Ready(Some(Err(why.into())))
                }
            },
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            other => other.map(|o| o.map(|r| r.map_err(Into::into))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(body: &[u8], split: usize) -> Result<usize, String> {
        let mut g = PartGuard::new(futures_util::stream::empty::<Result<Bytes, std::io::Error>>(), "XyZ", 64, 3);
        for piece in body.chunks(split.max(1)) {
            g.feed(piece)?;
        }
        Ok(g.parts)
    }

    fn part(headers: &str, data: &str) -> String {
        format!("--XyZ\r\n{headers}\r\n\r\n{data}\r\n")
    }

    #[test]
    fn well_formed_bodies_pass_in_any_chunking() {
        let body = format!(
            "{}{}--XyZ--\r\n",
            part("Content-Disposition: form-data; name=\"file\"", "a\r\n--Xy not yet"),
            part("Content-Disposition: form-data; name=\"file\"", "")
        );
        for split in [1, 2, 3, 5, 7, 64, 4096] {
            assert_eq!(run(body.as_bytes(), split), Ok(2), "split {split}");
        }
    }

    #[test]
    fn long_headers_preambles_and_too_many_parts_fail() {
        let long = part(&format!("X-Pad: {}", "p".repeat(100)), "d");
        for split in [1, 5, 4096] {
            assert!(run(long.as_bytes(), split).unwrap_err().contains("headers"), "split {split}");
        }
        let unterminated = format!("--XyZ\r\nContent-Disposition: form-data; {}", "x".repeat(1000));
        assert!(run(unterminated.as_bytes(), 10).is_err());
        let preamble = format!("{}\r\n{}", "junk".repeat(50), part("A: b", "d"));
        assert!(run(preamble.as_bytes(), 9).unwrap_err().contains("before the first part"));
        let many = format!("{}--XyZ--", part("A: b", "1").repeat(4));
        assert!(run(many.as_bytes(), 13).unwrap_err().contains("parts"));
    }
}
