//! A buffered, seekable reader over a source that is read by offset.
//!
//! The decoders want `BufRead + Seek`; the host hands the body out by
//! `read(offset, len)`. Pulling in chunks keeps the number of host calls small.

use std::io::{self, BufRead, Read, Seek, SeekFrom};

/// Something that can be read at an offset (the host's upload body, or a slice in tests).
pub trait ReadAt {
    fn size(&self) -> u64;
    fn read_at(&self, offset: u64, len: u32) -> Vec<u8>;
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, offset: u64, len: u32) -> Vec<u8> {
        let start = (offset.min(self.len() as u64)) as usize;
        let end = start.saturating_add(len as usize).min(self.len());
        self[start..end].to_vec()
    }
}

/// The first `len` bytes of a source, as a source.
pub struct Prefix<'a, S: ReadAt + ?Sized> {
    pub source: &'a S,
    pub len: u64,
}

impl<S: ReadAt + ?Sized> ReadAt for Prefix<'_, S> {
    fn size(&self) -> u64 {
        self.len.min(self.source.size())
    }
    fn read_at(&self, offset: u64, len: u32) -> Vec<u8> {
        let len = self.size().saturating_sub(offset).min(u64::from(len)) as u32;
        if len == 0 {
            return Vec::new();
        }
        self.source.read_at(offset, len)
    }
}

const CHUNK: u32 = 256 * 1024;

/// `BufRead + Seek` over a [`ReadAt`] source.
pub struct OffsetReader<'a, S: ReadAt + ?Sized> {
    source: &'a S,
    size: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a, S: ReadAt + ?Sized> OffsetReader<'a, S> {
    pub fn new(source: &'a S) -> Self {
        OffsetReader { size: source.size(), source, pos: 0, buf: Vec::new(), buf_start: 0 }
    }

    /// Bytes `[offset, offset + len)`, fewer at the end of the data.
    pub fn peek_at(&self, offset: u64, len: u32) -> Vec<u8> {
        self.source.read_at(offset, len)
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

impl<S: ReadAt + ?Sized> BufRead for OffsetReader<'_, S> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let in_buf = self.pos >= self.buf_start && self.pos < self.buf_start + self.buf.len() as u64;
        if !in_buf {
            if self.pos >= self.size {
                return Ok(&[]);
            }
            self.buf = self.source.read_at(self.pos, CHUNK);
            self.buf_start = self.pos;
        }
        let from = (self.pos - self.buf_start) as usize;
        Ok(&self.buf[from..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos += amt as u64;
    }
}

impl<S: ReadAt + ?Sized> Read for OffsetReader<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<S: ReadAt + ?Sized> Seek for OffsetReader<'_, S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before start")),
        }
    }
}
