//! The bytes of one SMTP or LMTP connection: what was read and not yet
//! consumed, and the replies not yet written, which go out before every
//! read (PIPELINING: a client waits for them only when it has sent all it
//! could). The submission server and the content filter share it.

use std::future::Future;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use super::reply::Reply;

/// Bytes read from the peer per call.
pub const READ_CHUNK: usize = 64 * 1024;

/// Why no more bytes came.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("client closed the connection")]
    Closed,
    #[error("timed out")]
    Timeout,
    /// The caller's interrupt (e.g. the listener making room) came first.
    #[error("interrupted")]
    Interrupted,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub struct Wire<S> {
    pub stream: S,
    /// Bytes read but not yet consumed.
    pub pending: Vec<u8>,
    /// Replies not yet written.
    out: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            pending: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Queues a reply; it is written at the next [`Self::flush`] or read.
    pub fn reply(&mut self, reply: &Reply) {
        self.out.extend_from_slice(&reply.to_wire());
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Writes the queued replies, then reads more bytes into `pending` by
    /// `deadline`, unless `interrupt` completes first.
    pub async fn fill(
        &mut self,
        deadline: Instant,
        interrupt: impl Future<Output = ()>,
    ) -> Result<(), WireError> {
        self.flush().await?;
        let mut chunk = vec![0u8; READ_CHUNK];
        let read = tokio::select! {
            read = timeout_at(deadline, self.stream.read(&mut chunk)) => read,
            _ = interrupt => return Err(WireError::Interrupted),
        };
        let n = match read {
            Err(_) => return Err(WireError::Timeout),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(0)) => return Err(WireError::Closed),
            Ok(Ok(n)) => n,
        };
        self.pending.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}
