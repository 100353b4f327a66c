//! Protobuf messages of the wire protocols and the framing they share.
//!
//! Each request or response is one protobuf message preceded by its length as a 4-byte
//! big-endian integer. A frame longer than the protocol's limit is refused before it is read,
//! so a peer cannot make a node buffer more than that. The request-response protocols
//! (admission, sync) send one request and one response per stream through [`ProstCodec`];
//! `/ossa/raft/1` sends a sequence of them on a long-lived stream (`swarm::raft_streams`)
//! with [`read_frame`] and [`write_frame`].

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response::Codec;
use libp2p::StreamProtocol;

/// Generated from `proto/ossa.proto`.
#[allow(missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/ossa.v1.rs"));
}

/// Protocol id of the admission handshake.
pub const ADMISSION_PROTOCOL: StreamProtocol = StreamProtocol::new("/ossa/admission/1");
/// Protocol id of Raft RPCs, joins and forwarded writes.
pub const RAFT_PROTOCOL: StreamProtocol = StreamProtocol::new("/ossa/raft/1");

/// Protocol id of agent directory sync.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/ossa/sync/1");

/// Largest admission message: a certificate is under 2 KiB; 64 KiB leaves room for a chain.
pub const MAX_ADMISSION_MESSAGE: usize = 64 * 1024;
/// Largest Raft message: openraft sends at most `max_payload_entries` entries per
/// AppendEntries (32 of at most 256 KiB each: `ossa_consensus::MAX_PAYLOAD_ENTRIES`) and 3 MiB
/// snapshot chunks; 16 MiB bounds both with room to spare.
pub const MAX_RAFT_MESSAGE: usize = 16 * 1024 * 1024;
// A full AppendEntries must fit, with room for its envelope.
const _: () =
    assert!(ossa_consensus::MAX_PAYLOAD_ENTRIES as usize * ossa_consensus::MAX_PROPOSAL_BYTES <= MAX_RAFT_MESSAGE / 2);

/// Largest sync message: a page holds at most 256 records of at most 16 KiB each.
pub const MAX_SYNC_MESSAGE: usize = 4 * 1024 * 1024 + 1024;

/// Length-prefixed protobuf codec for one request/response pair with a size limit.
pub struct ProstCodec<Req, Resp> {
    max_len: usize,
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> ProstCodec<Req, Resp> {
    /// A codec that refuses frames longer than `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Self { max_len, _types: PhantomData }
    }
}

impl<Req, Resp> Clone for ProstCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::new(self.max_len)
    }
}

/// Memory reserved for a frame's body before its bytes arrive.
const INITIAL_FRAME_BUFFER: usize = 64 * 1024;

/// Reads one length-prefixed message of at most `max_len` bytes.
pub async fn read_frame<M, T>(io: &mut T, max_len: usize) -> io::Result<M>
where
    M: prost::Message + Default,
    T: AsyncRead + Unpin + Send,
{
    let len = read_frame_len(io, max_len).await?;
    read_frame_body(io, len).await
}

/// Reads a frame's length prefix, refusing one over `max_len`; its body follows
/// ([`read_frame_body`]).
pub async fn read_frame_len<T>(io: &mut T, max_len: usize) -> io::Result<usize>
where
    T: AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes exceeds the limit of {max_len}"),
        ));
    }
    Ok(len)
}

/// Reads and decodes a frame's body of `len` bytes (checked against the limit by
/// [`read_frame_len`]).
pub async fn read_frame_body<M, T>(io: &mut T, len: usize) -> io::Result<M>
where
    M: prost::Message + Default,
    T: AsyncRead + Unpin + Send,
{
    // Grown as the body arrives, so a header announcing a large frame reserves no more memory
    // than the peer has actually sent.
    let mut buf = Vec::with_capacity(len.min(INITIAL_FRAME_BUFFER));
    let read = io.take(len as u64).read_to_end(&mut buf).await?;
    if read < len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("frame ended after {read} of {len} bytes")));
    }
    M::decode(buf.as_slice()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Writes one length-prefixed message of at most `max_len` bytes and flushes it; the stream
/// stays open for the next one.
pub async fn write_frame<M, T>(io: &mut T, message: &M, max_len: usize) -> io::Result<()>
where
    M: prost::Message,
    T: AsyncWrite + Unpin + Send,
{
    let bytes = message.encode_to_vec();
    if bytes.len() > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("message of {} bytes exceeds the limit of {max_len}", bytes.len()),
        ));
    }
    let len = u32::try_from(bytes.len()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut frame = Vec::with_capacity(4 + bytes.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&bytes);
    io.write_all(&frame).await?;
    io.flush().await
}

/// Writes the one message of a request-response stream and closes the stream.
async fn write_last_frame<M, T>(io: &mut T, message: &M, max_len: usize) -> io::Result<()>
where
    M: prost::Message,
    T: AsyncWrite + Unpin + Send,
{
    write_frame(io, message, max_len).await?;
    io.close().await
}

impl<Req, Resp> Codec for ProstCodec<Req, Resp>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + Default + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_len).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_len).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_last_frame(io, &req, self.max_len).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: Resp) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_last_frame(io, &res, self.max_len).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;
    use proptest::prelude::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn round_trip_and_limit() {
        let mut codec = ProstCodec::<pb::AdmissionRequest, pb::AdmissionResponse>::new(64);
        let request = pb::AdmissionRequest { cert_der: vec![7; 32] };
        let mut buf = Cursor::new(Vec::new());
        block_on(codec.write_request(&ADMISSION_PROTOCOL, &mut buf, request.clone())).expect("write");
        let mut read = Cursor::new(buf.into_inner());
        let decoded = block_on(codec.read_request(&ADMISSION_PROTOCOL, &mut read)).expect("read");
        assert_eq!(decoded, request);

        let too_big = pb::AdmissionRequest { cert_der: vec![7; 100] };
        let mut buf = Cursor::new(Vec::new());
        assert!(block_on(codec.write_request(&ADMISSION_PROTOCOL, &mut buf, too_big)).is_err());
        // A header that announces more than the limit is refused before the body is read.
        let mut read = Cursor::new(vec![0, 0, 1, 0]);
        let err = block_on(codec.read_request(&ADMISSION_PROTOCOL, &mut read)).expect_err("over limit");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_stream_carries_several_frames_and_stays_open() {
        let first = pb::RaftRequest { body: Some(pb::raft_request::Body::ReadIndex(pb::ReadIndex {})) };
        let second = pb::RaftRequest { body: Some(pb::raft_request::Body::Rpc(vec![1, 2, 3])) };
        let mut buf = Cursor::new(Vec::new());
        block_on(write_frame(&mut buf, &first, 64)).expect("first");
        block_on(write_frame(&mut buf, &second, 64)).expect("second");
        let mut read = Cursor::new(buf.into_inner());
        assert_eq!(block_on(read_frame::<pb::RaftRequest, _>(&mut read, 64)).expect("read first"), first);
        assert_eq!(block_on(read_frame::<pb::RaftRequest, _>(&mut read, 64)).expect("read second"), second);
        // The end of the stream is an error the reader can tell apart from a bad frame.
        let end = block_on(read_frame::<pb::RaftRequest, _>(&mut read, 64)).expect_err("end of stream");
        assert_eq!(end.kind(), io::ErrorKind::UnexpectedEof);
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut read = Cursor::new(bytes.clone());
            let _ = block_on(read_frame::<pb::RaftRequest, _>(&mut read, 1024));
            let mut read = Cursor::new(bytes.clone());
            let _ = block_on(read_frame::<pb::RaftResponse, _>(&mut read, 1024));
            let mut codec = ProstCodec::<pb::SyncRequest, pb::SyncResponse>::new(1024);
            let mut read = Cursor::new(bytes.clone());
            let _ = block_on(codec.read_request(&SYNC_PROTOCOL, &mut read));
            let mut read = Cursor::new(bytes);
            let _ = block_on(codec.read_response(&SYNC_PROTOCOL, &mut read));
        }
    }
}
