use std::io;

use zeroize::Zeroize;

/// An [`io::Write`] that appends to a `Vec<u8>` holding plaintext and never leaves a copy of
/// it behind in freed memory.
///
/// A `Vec` that outgrows its allocation copies its bytes into a larger one and frees the old
/// one as it is: with session data in it, that leaves plaintext in the allocator's free
/// lists, where a heap read or a core dump finds it. This writer grows the vector itself:
/// it moves the bytes to a new allocation (at least twice as large) and zeroizes the old
/// one, spare capacity included, before it is freed.
///
/// The built-in codecs encode through it. A custom [`Codec`](super::Codec) should write
/// through it too, or reserve what it needs before it writes.
///
/// ```
/// use std::io::Write;
/// use sealed_session::codec::WipingWriter;
///
/// let mut out = Vec::with_capacity(4);
/// WipingWriter::new(&mut out).write_all(b"longer than four bytes")?;
/// assert_eq!(out, b"longer than four bytes");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct WipingWriter<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> WipingWriter<'a> {
    /// A writer that appends to `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        WipingWriter { buf }
    }

    /// Makes room for `additional` more bytes: if the vector's allocation is too small, its
    /// contents move to a new one and the old one is zeroized before it is freed.
    #[inline]
    pub fn reserve(&mut self, additional: usize) -> io::Result<()> {
        if self.buf.capacity().saturating_sub(self.buf.len()) >= additional {
            return Ok(());
        }
        self.grow(additional)
    }

    /// The slow path of [`WipingWriter::reserve`], out of line so every write stays a
    /// comparison and a copy.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, additional: usize) -> io::Result<()> {
        let (len, capacity) = (self.buf.len(), self.buf.capacity());
        let needed = len
            .checked_add(additional)
            .ok_or(io::ErrorKind::OutOfMemory)?;
        let mut grown = Vec::new();
        grown
            .try_reserve_exact(needed.max(capacity.saturating_mul(2)).max(64))
            .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
        grown.extend_from_slice(self.buf);
        let mut old = std::mem::replace(self.buf, grown);
        old.zeroize();
        Ok(())
    }
}

impl io::Write for WipingWriter<'_> {
    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    #[inline]
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.reserve(data.len())?;
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for WipingWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WipingWriter")
            .field("len", &self.buf.len())
            .field("capacity", &self.buf.capacity())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::WipingWriter;

    #[test]
    fn growing_moves_the_bytes_and_keeps_their_order() {
        let mut out = b"ab".to_vec();
        out.shrink_to_fit();
        let mut writer = WipingWriter::new(&mut out);
        for chunk in [&b"cd"[..], &[b'e'; 100], b"f"] {
            writer.write_all(chunk).unwrap();
        }
        let mut expected = b"abcd".to_vec();
        expected.extend_from_slice(&[b'e'; 100]);
        expected.push(b'f');
        assert_eq!(out, expected);
        assert!(out.capacity() >= 103);
    }

    #[test]
    fn a_write_that_fits_never_reallocates() {
        let mut out = Vec::with_capacity(16);
        let before = out.as_ptr();
        WipingWriter::new(&mut out).write_all(&[1; 16]).unwrap();
        assert_eq!(out.as_ptr(), before);
    }
}
