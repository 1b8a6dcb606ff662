//! The sans-IO half of the websocket filter: parses client→server frames
//! (RFC 6455 §5.2) from arbitrary slices of the stream, holds back small text
//! frames until it is known whether they are a CONNECT with a query, and
//! re-frames those without the query.

use std::cmp::min;

use super::{CONNECT_PREFIX, connect_query_range};

/// Frames sent by the client (RFC 6455 §5.2) carry at most 14 header bytes.
const MAX_HEADER_LEN: usize = 14;
const FIN_TEXT: u8 = 0x81;
// Visible to the parent: its end-to-end test reads server frames with them.
pub(super) const MASK_BIT: u8 = 0x80;
pub(super) const LEN_16: u8 = 126;
pub(super) const LEN_64: u8 = 127;
/// Bigger CONNECT frames stream through unchanged (socketioxide then rejects
/// them as before), so a client cannot make us buffer without bound.
const MAX_CONNECT_FRAME: u64 = 64 * 1024;

/// Sans-IO rewriter of client→server websocket frames, fed arbitrary slices of
/// the byte stream.
#[derive(Debug, Default)]
pub(super) struct FrameRewriter {
    state: FrameState,
}

#[derive(Debug)]
enum FrameState {
    /// Reading a frame header, of which `filled` bytes are known.
    Header {
        buf: [u8; MAX_HEADER_LEN],
        filled: usize,
    },
    /// A small text frame held back (payload still masked) until it is known
    /// whether it is a CONNECT with a query.
    Held {
        header: FrameHeader,
        payload: Vec<u8>,
    },
    /// Payload bytes of the current frame that pass through unchanged.
    Passthrough { remaining: u64 },
}

impl Default for FrameState {
    fn default() -> Self {
        FrameState::Header {
            buf: [0; MAX_HEADER_LEN],
            filled: 0,
        }
    }
}

impl FrameRewriter {
    /// Consumes all of `input`, appending what can be released to `out`.
    pub(super) fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            let (next, used) = match std::mem::take(&mut self.state) {
                FrameState::Header { buf, filled } => read_header(buf, filled, input, out),
                FrameState::Held { header, payload } => read_held(header, payload, input, out),
                FrameState::Passthrough { remaining } => pass_through(remaining, input, out),
            };
            self.state = next;
            input = &input[used..];
        }
    }

    /// Payload bytes that may go to the reader without looking at them.
    pub(super) fn passthrough_remaining(&self) -> Option<u64> {
        match self.state {
            FrameState::Passthrough { remaining } => Some(remaining),
            _ => None,
        }
    }

    pub(super) fn consume_passthrough(&mut self, n: usize) {
        if let FrameState::Passthrough { remaining } = self.state {
            self.state = after_payload(remaining.saturating_sub(n as u64));
        }
    }

    /// Releases whatever is held back, unchanged (end of stream).
    pub(super) fn finish(&mut self, out: &mut Vec<u8>) {
        match std::mem::take(&mut self.state) {
            FrameState::Header { buf, filled } => out.extend_from_slice(&buf[..filled]),
            FrameState::Held { header, payload } => {
                out.extend_from_slice(header.raw());
                out.extend_from_slice(&payload);
            }
            FrameState::Passthrough { .. } => {}
        }
    }
}

fn after_payload(remaining: u64) -> FrameState {
    if remaining == 0 {
        FrameState::default()
    } else {
        FrameState::Passthrough { remaining }
    }
}

fn read_header(
    mut buf: [u8; MAX_HEADER_LEN],
    mut filled: usize,
    input: &[u8],
    out: &mut Vec<u8>,
) -> (FrameState, usize) {
    // The first two bytes tell how long the header is.
    let needed = if filled < 2 { 2 } else { header_len(buf[1]) };
    let used = min(needed - filled, input.len());
    buf[filled..filled + used].copy_from_slice(&input[..used]);
    filled += used;
    if filled < 2 || filled < header_len(buf[1]) {
        return (FrameState::Header { buf, filled }, used);
    }
    let header = FrameHeader::parse(buf, filled);
    if header.may_be_connect() {
        let payload = Vec::new();
        return (FrameState::Held { header, payload }, used);
    }
    out.extend_from_slice(header.raw());
    (after_payload(header.payload_len), used)
}

fn read_held(
    header: FrameHeader,
    mut payload: Vec<u8>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> (FrameState, usize) {
    let prefix_len = CONNECT_PREFIX.len();
    // Whole frame is at most MAX_CONNECT_FRAME bytes, so this fits.
    let frame_len = header.payload_len as usize;
    // Take just the prefix first, to stop holding the frame as soon as it
    // turns out not to be a CONNECT.
    let wanted = if payload.len() < prefix_len {
        prefix_len - payload.len()
    } else {
        frame_len - payload.len()
    };
    let used = min(wanted, input.len());
    payload.extend_from_slice(&input[..used]);

    if payload.len() >= prefix_len && !header.unmasked_starts_with(&payload, CONNECT_PREFIX) {
        out.extend_from_slice(header.raw());
        out.extend_from_slice(&payload);
        return (
            after_payload(header.payload_len - payload.len() as u64),
            used,
        );
    }
    if payload.len() < frame_len {
        return (FrameState::Held { header, payload }, used);
    }
    release_held_frame(&header, payload, out);
    (FrameState::default(), used)
}

fn pass_through(remaining: u64, input: &[u8], out: &mut Vec<u8>) -> (FrameState, usize) {
    let used = usize::try_from(remaining).map_or(input.len(), |r| min(r, input.len()));
    out.extend_from_slice(&input[..used]);
    (after_payload(remaining - used as u64), used)
}

/// Writes a complete held frame to `out`, without its CONNECT query if it has
/// one.
fn release_held_frame(header: &FrameHeader, mut payload: Vec<u8>, out: &mut Vec<u8>) {
    apply_mask(&mut payload, header.mask);
    let Some(query) = connect_query_range(&payload) else {
        out.extend_from_slice(header.raw());
        apply_mask(&mut payload, header.mask);
        out.extend_from_slice(&payload);
        return;
    };
    payload.drain(query);
    apply_mask(&mut payload, header.mask);
    write_masked_header(out, header.first_byte(), header.mask, payload.len());
    out.extend_from_slice(&payload);
}

/// Masking is a XOR, so the same call masks and unmasks.
fn apply_mask(payload: &mut [u8], mask: [u8; 4]) {
    payload
        .iter_mut()
        .zip(mask.iter().cycle())
        .for_each(|(byte, key)| *byte ^= key);
}

/// Encodes with the shortest length form, as RFC 6455 §5.2 requires.
fn write_masked_header(out: &mut Vec<u8>, first_byte: u8, mask: [u8; 4], len: usize) {
    out.push(first_byte);
    match (u8::try_from(len), u16::try_from(len)) {
        (Ok(short), _) if short < LEN_16 => out.push(MASK_BIT | short),
        (_, Ok(medium)) => {
            out.push(MASK_BIT | LEN_16);
            out.extend_from_slice(&medium.to_be_bytes());
        }
        _ => {
            out.push(MASK_BIT | LEN_64);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
}

/// Header length (2 to 14 bytes) given its second byte.
fn header_len(second_byte: u8) -> usize {
    let extended = match second_byte & !MASK_BIT {
        LEN_16 => 2,
        LEN_64 => 8,
        _ => 0,
    };
    let mask = if second_byte & MASK_BIT != 0 { 4 } else { 0 };
    2 + extended + mask
}

#[derive(Debug, Clone, Copy)]
struct FrameHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: usize,
    payload_len: u64,
    masked: bool,
    mask: [u8; 4],
}

impl FrameHeader {
    /// `bytes[..len]` must hold a complete header (`len == header_len(bytes[1])`).
    fn parse(bytes: [u8; MAX_HEADER_LEN], len: usize) -> Self {
        let (payload_len, mask_at) = match bytes[1] & !MASK_BIT {
            LEN_16 => (u64::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            LEN_64 => {
                let mut extended = [0; 8];
                extended.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(extended), 10)
            }
            short => (u64::from(short), 2),
        };
        let masked = bytes[1] & MASK_BIT != 0;
        let mut mask = [0; 4];
        if masked {
            mask.copy_from_slice(&bytes[mask_at..mask_at + 4]);
        }
        Self {
            bytes,
            len,
            payload_len,
            masked,
            mask,
        }
    }

    fn first_byte(&self) -> u8 {
        self.bytes[0]
    }

    fn raw(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// A complete (FIN), plain (no RSV bits) and masked text frame, large
    /// enough for a CONNECT prefix and small enough to hold back.
    fn may_be_connect(&self) -> bool {
        self.first_byte() == FIN_TEXT
            && self.masked
            && (CONNECT_PREFIX.len() as u64..=MAX_CONNECT_FRAME).contains(&self.payload_len)
    }

    fn unmasked_starts_with(&self, masked_payload: &[u8], prefix: &[u8]) -> bool {
        masked_payload.len() >= prefix.len()
            && masked_payload
                .iter()
                .zip(self.mask.iter().cycle())
                .zip(prefix)
                .all(|((byte, key), expected)| byte ^ key == *expected)
    }
}

/// Client frames as a browser would send them, for the tests of the whole
/// shim.
#[cfg(test)]
pub(super) mod testing {
    use super::{apply_mask, write_masked_header};

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    pub const OP_TEXT: u8 = 0x1;
    pub const OP_BINARY: u8 = 0x2;
    pub const OP_CONTINUATION: u8 = 0x0;
    pub const OP_PING: u8 = 0x9;

    /// A client frame as a browser would send it.
    pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        let first = if fin { 0x80 | opcode } else { opcode };
        let mut masked = payload.to_vec();
        apply_mask(&mut masked, MASK);
        write_masked_header(&mut frame, first, MASK, payload.len());
        frame.extend_from_slice(&masked);
        frame
    }

    pub fn text(payload: &str) -> Vec<u8> {
        client_frame(true, OP_TEXT, payload.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{OP_BINARY, OP_CONTINUATION, OP_PING, OP_TEXT, client_frame, text};
    use super::*;

    /// Decodes client frames back into (first byte, unmasked payload), checking
    /// that lengths use their shortest form.
    fn decode_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let len = header_len(bytes[1]);
            let mut buf = [0; MAX_HEADER_LEN];
            buf[..len].copy_from_slice(&bytes[..len]);
            let header = FrameHeader::parse(buf, len);
            let minimal = match header.payload_len {
                0..=125 => 2,
                126..=0xFFFF => 4,
                _ => 10,
            } + 4;
            assert_eq!(len, minimal, "non-minimal length encoding");
            let end = len + header.payload_len as usize;
            let mut payload = bytes[len..end].to_vec();
            apply_mask(&mut payload, header.mask);
            frames.push((header.first_byte(), payload));
            bytes = &bytes[end..];
        }
        frames
    }

    fn rewrite_in_chunks(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut rewriter = FrameRewriter::default();
        let mut out = Vec::new();
        input
            .chunks(chunk)
            .for_each(|part| rewriter.feed(part, &mut out));
        rewriter.finish(&mut out);
        out
    }

    /// Every split of the stream, from byte-by-byte to one piece, must give
    /// the same result.
    fn assert_rewrites(input: &[u8], expected: &[u8]) {
        for chunk in [1, 2, 3, 5, 7, 13, 64, 4096, input.len().max(1)] {
            assert_eq!(
                rewrite_in_chunks(input, chunk),
                expected,
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn connect_query_is_stripped_from_frame() {
        assert_rewrites(
            &text("40/chat-service?user=alice,"),
            &text("40/chat-service,"),
        );
    }

    #[test]
    fn connect_query_at_end_of_frame_is_stripped() {
        assert_rewrites(
            &text("40/chat-service?user=alice"),
            &text("40/chat-service"),
        );
    }

    #[test]
    fn connect_data_after_namespace_is_kept() {
        assert_rewrites(
            &text(r#"40/chat-service?user=alice,{"token":"a?b,c"}"#),
            &text(r#"40/chat-service,{"token":"a?b,c"}"#),
        );
    }

    #[test]
    fn multibyte_utf8_query_is_stripped() {
        let output = rewrite_in_chunks(&text("40/chat-service?user=bob-é✓😀,"), 1);
        let frames = decode_frames(&output);
        assert_eq!(frames, vec![(FIN_TEXT, b"40/chat-service,".to_vec())]);
    }

    #[test]
    fn frames_without_connect_query_are_untouched() {
        let mut stream = Vec::new();
        for frame in [
            text("40/chat-service,"),
            text("40"),
            text("40/chat-service"),
            text(r#"42/chat-service,["msg","?x"]"#),
            text("2probe"),
            text(""),
            text("4"),
            client_frame(true, OP_BINARY, b"40/chat-service?user=alice,"),
            client_frame(true, OP_PING, b"40/x?y"),
            client_frame(false, OP_TEXT, b"40/chat-service?user=alice,"),
            client_frame(true, OP_CONTINUATION, b"40/chat-service?x"),
        ] {
            stream.extend_from_slice(&frame);
        }
        assert_rewrites(&stream, &stream);
    }

    #[test]
    fn rewrite_keeps_surrounding_frames_in_order() {
        let mut input = text("3probe");
        input.extend(text("40/chat-service?user=alice,"));
        input.extend(client_frame(true, OP_PING, b""));
        input.extend(text(r#"42/chat-service,["x"]"#));
        let mut expected = text("3probe");
        expected.extend(text("40/chat-service,"));
        expected.extend(client_frame(true, OP_PING, b""));
        expected.extend(text(r#"42/chat-service,["x"]"#));
        assert_rewrites(&input, &expected);
    }

    #[test]
    fn frame_with_16_bit_length_is_reframed_shorter() {
        let query = "x".repeat(300);
        let input = text(&format!("40/chat-service?user={query},"));
        assert_eq!(input[1] & !MASK_BIT, LEN_16);
        let expected = text("40/chat-service,");
        assert_eq!(expected[1] & !MASK_BIT, 16);
        assert_rewrites(&input, &expected);
    }

    #[test]
    fn frame_with_64_bit_length_is_reframed_shorter() {
        // 65 536 bytes: the largest CONNECT frame held back, needing 64 bits.
        let payload = format!("40/c?{},", "q".repeat(65_536 - 6));
        let input = text(&payload);
        assert_eq!(input[1] & !MASK_BIT, LEN_64);
        assert_rewrites(&input, &text("40/c,"));
    }

    #[test]
    fn rewritten_frame_keeps_16_bit_length_when_needed() {
        let data = format!("[\"{}\"]", "d".repeat(1000));
        let input = text(&format!("40/chat-service?user=alice,{data}"));
        let expected = text(&format!("40/chat-service,{data}"));
        assert_eq!(expected[1] & !MASK_BIT, LEN_16);
        assert_rewrites(&input, &expected);
    }

    #[test]
    fn oversized_connect_frame_streams_through_untouched() {
        let payload = format!("40/c?{},", "q".repeat(70_000));
        let input = text(&payload);
        assert_rewrites(&input, &input);
    }

    #[test]
    fn large_frames_stream_through_untouched() {
        let big_16 = text(&format!("42/c,[\"{}\"]", "m".repeat(40_000)));
        let big_64 = client_frame(true, OP_BINARY, &vec![0xAB; 100_000]);
        let mut input = big_16;
        input.extend(big_64);
        input.extend(text("40/chat-service?user=z,"));
        let mut expected = input[..input.len() - text("40/chat-service?user=z,").len()].to_vec();
        expected.extend(text("40/chat-service,"));
        assert_rewrites(&input, &expected);
    }

    #[test]
    fn truncated_stream_is_released_as_is() {
        let frame = text("40/chat-service?user=alice,");
        for cut in 1..frame.len() {
            assert_eq!(rewrite_in_chunks(&frame[..cut], 1), &frame[..cut]);
        }
    }
}
