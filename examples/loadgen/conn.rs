//! One socket.io client connection, spoken directly over a websocket
//! (engine.io v4 / socket.io v5, or engine.io v3 / socket.io v4 as
//! socket.io-client 2.x speaks it): login, acked requests, notifications,
//! heartbeats. Also the small packet parsers, which never trust their input.

use std::pin::Pin;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{Sleep, sleep};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

pub const NAMESPACE: &str = "/chat-service";

/// Read buffer per connection: frames here are small, and tungstenite
/// zero-fills the whole buffer before each read (128 KB by default).
const READ_BUFFER: usize = 8 * 1024;

/// Engine.io protocol revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eio {
    /// engine.io 3 (socket.io 2 servers and clients): the client pings.
    V3,
    /// engine.io 4 (socket.io 3+): the server pings.
    V4,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("websocket error: {0}")]
    Ws(#[from] WsError),
    #[error("connection closed by the server")]
    Closed,
    #[error("namespace disconnected by the server")]
    Disconnected,
    #[error("namespace connect error: {0}")]
    ConnectError(String),
    #[error("login rejected: {0}")]
    LoginRejected(String),
    #[error("unexpected packet: {0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
}

/// Where the server is: `host:port` taken from `http://host:port` (or `ws://`).
#[derive(Clone, Debug)]
pub struct Target {
    pub host_port: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = ["http://", "ws://"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme))
            .ok_or_else(|| format!("--url must start with http:// or ws://: {url}"))?;
        let host_port = rest.split('/').next().unwrap_or_default();
        if !host_port.contains(':') {
            return Err(format!("--url needs an explicit port: {url}"));
        }
        Ok(Self {
            host_port: host_port.to_owned(),
        })
    }
}

/// A socket.io packet of our namespace that the scenarios act on.
#[derive(Debug)]
pub enum Incoming {
    /// `42/chat-service,[...]`: a notification.
    Event(Frame),
    /// `43/chat-service,<id>[...]`: the ack of request `id`.
    Ack(u64, Frame),
}

/// A received frame and where its JSON data starts.
#[derive(Debug)]
pub struct Frame {
    text: Utf8Bytes,
    start: usize,
}

impl Frame {
    /// The packet's JSON data (an array for events and acks).
    pub fn data(&self) -> &str {
        self.text.as_str().get(self.start..).unwrap_or_default()
    }
}

pub struct Conn {
    ws: WebSocketStream<TcpStream>,
    next_ack: u64,
    /// EIO3: the client pings every `ping_interval`; the timer of the next.
    ping: Option<(Pin<Box<Sleep>>, Duration)>,
    /// A heartbeat packet still to be sent (kept if a send was cancelled).
    control_due: Option<&'static str>,
}

impl Conn {
    /// Opens the websocket, connects to the namespace and waits for
    /// `loginConfirmed` (the user name goes in the query `user`).
    pub async fn connect(target: &Target, eio: Eio, user: &str) -> Result<Conn, ConnError> {
        let user_q: String = form_urlencoded::byte_serialize(user.as_bytes()).collect();
        let version = match eio {
            Eio::V3 => 3,
            Eio::V4 => 4,
        };
        let url = format!(
            "ws://{}/socket.io/?EIO={version}&transport=websocket&user={user_q}",
            target.host_port
        );
        let stream = TcpStream::connect(&target.host_port)
            .await
            .map_err(|e| ConnError::Connect(e.to_string()))?;
        stream
            .set_nodelay(true)
            .map_err(|e| ConnError::Connect(e.to_string()))?;
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let (ws, _) = client_async_with_config(url, stream, Some(config)).await?;
        let mut conn = Conn {
            ws,
            next_ack: 0,
            ping: None,
            control_due: None,
        };

        // The engine.io open packet.
        let open = conn.next_text().await?;
        let ping_interval = match parse_eio(open.as_str()) {
            EioPacket::Open(json) => {
                ping_interval(json).ok_or_else(|| ConnError::Protocol(open.as_str().to_owned()))?
            }
            _ => return Err(ConnError::Protocol(open.as_str().to_owned())),
        };
        let connect = match eio {
            Eio::V4 => format!("40{NAMESPACE},"),
            // socket.io-client 2.x puts its query in the CONNECT packet too.
            Eio::V3 => {
                conn.ping = Some((Box::pin(sleep(ping_interval)), ping_interval));
                format!("40{NAMESPACE}?user={user_q},")
            }
        };
        conn.ws.send(Message::text(connect)).await?;

        loop {
            if let Incoming::Event(frame) = conn.recv().await? {
                let data = frame.data();
                if data.starts_with("[\"loginConfirmed\"") {
                    return Ok(conn);
                }
                if data.starts_with("[\"loginRejected\"") {
                    return Err(ConnError::LoginRejected(data.to_owned()));
                }
            }
        }
    }

    /// Queues the request `args` (a JSON array: event name, then arguments)
    /// with a new ack id, without flushing. Returns the ack id.
    pub async fn request(&mut self, args: &str) -> Result<u64, ConnError> {
        let id = self.next_ack;
        self.next_ack += 1;
        self.ws
            .feed(Message::text(format!("42{NAMESPACE},{id}{args}")))
            .await?;
        Ok(id)
    }

    /// Sends what [`Conn::request`] queued.
    pub async fn flush(&mut self) -> Result<(), ConnError> {
        Ok(self.ws.flush().await?)
    }

    /// The next event or ack of our namespace. Answers heartbeats on the
    /// way. Cancel-safe: a cancelled heartbeat is sent on the next call.
    pub async fn recv(&mut self) -> Result<Incoming, ConnError> {
        loop {
            let text = self.next_text().await?;
            match parse_eio(text.as_str()) {
                EioPacket::Ping => self.control_due = Some("3"),
                EioPacket::Close => return Err(ConnError::Closed),
                EioPacket::Message(msg) => {
                    let packet = parse_sio(msg)
                        .ok_or_else(|| ConnError::Protocol(text.as_str().to_owned()))?;
                    if packet.nsp != NAMESPACE {
                        continue;
                    }
                    let start = text.len() - packet.data.len();
                    match (packet.kind, packet.ack) {
                        (2, _) => return Ok(Incoming::Event(Frame { text, start })),
                        (3, Some(id)) => return Ok(Incoming::Ack(id, Frame { text, start })),
                        (1, _) => return Err(ConnError::Disconnected),
                        (4, _) => return Err(ConnError::ConnectError(packet.data.to_owned())),
                        _ => {}
                    }
                }
                EioPacket::Open(_) | EioPacket::Pong | EioPacket::Other => {}
            }
        }
    }

    /// The next text frame; sends due heartbeats first.
    async fn next_text(&mut self) -> Result<Utf8Bytes, ConnError> {
        loop {
            if let Some(packet) = self.control_due {
                self.ws.send(Message::text(packet)).await?;
                self.control_due = None;
            }
            let msg = match &mut self.ping {
                Some((timer, every)) => tokio::select! {
                    msg = self.ws.next() => msg,
                    _ = timer.as_mut() => {
                        let next = timer.deadline() + *every;
                        timer.as_mut().reset(next);
                        self.control_due = Some("2");
                        continue;
                    }
                },
                None => self.ws.next().await,
            };
            match msg {
                None | Some(Ok(Message::Close(_))) => return Err(ConnError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(text))) => return Ok(text),
                Some(Ok(_)) => {}
            }
        }
    }
}

/// An engine.io packet as far as we care.
#[derive(Debug, PartialEq)]
pub enum EioPacket<'a> {
    Open(&'a str),
    Close,
    Ping,
    Pong,
    Message(&'a str),
    Other,
}

pub fn parse_eio(frame: &str) -> EioPacket<'_> {
    let rest = frame.get(1..).unwrap_or_default();
    match frame.as_bytes().first() {
        Some(b'0') => EioPacket::Open(rest),
        Some(b'1') => EioPacket::Close,
        Some(b'2') => EioPacket::Ping,
        Some(b'3') => EioPacket::Pong,
        Some(b'4') => EioPacket::Message(rest),
        _ => EioPacket::Other,
    }
}

/// `pingInterval` of the open packet's JSON.
fn ping_interval(open_json: &str) -> Option<Duration> {
    let value: serde_json::Value = serde_json::from_str(open_json).ok()?;
    Some(Duration::from_millis(value.get("pingInterval")?.as_u64()?))
}

/// A socket.io packet: `<type>[<attachments>-][<nsp>,][<ack id>][<data>]`.
#[derive(Debug, PartialEq)]
pub struct SioPacket<'a> {
    pub kind: u8,
    pub nsp: &'a str,
    pub ack: Option<u64>,
    pub data: &'a str,
}

pub fn parse_sio(msg: &str) -> Option<SioPacket<'_>> {
    let kind = msg
        .as_bytes()
        .first()?
        .checked_sub(b'0')
        .filter(|k| *k <= 6)?;
    let mut rest = msg.get(1..)?;
    if kind == 5 || kind == 6 {
        rest = rest.split_once('-')?.1;
    }
    let mut nsp = "/";
    if rest.starts_with('/') {
        (nsp, rest) = rest.split_once(',').unwrap_or((rest, ""));
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ack = match digits {
        0 => None,
        n => Some(rest.get(..n)?.parse().ok()?),
    };
    Some(SioPacket {
        kind,
        nsp,
        ack,
        data: rest.get(digits..)?,
    })
}

/// An ack's `[error, result]`: the result text when the error is `null`,
/// else the error text.
pub fn ack_result(data: &str) -> Result<&str, &str> {
    let inner = data
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .ok_or(data)?;
    match inner.strip_prefix("null") {
        Some("") => Ok("null"),
        Some(result) => result.strip_prefix(',').ok_or(inner),
        None => Err(inner),
    }
}

/// A `roomMessage` notification: its message `id` and the send time
/// `t<micros>` the load generator put in its text, found without a full
/// JSON parse. Fast path for the usual key order (`textMessage` first, `id`
/// last; room names cannot hold `{`), else a search.
pub fn room_message(data: &str) -> Option<(u64, Option<u64>)> {
    const ID: &str = "\"id\":";
    const TEXT: &str = "{\"textMessage\":\"t";
    let rest = data.strip_prefix("[\"roomMessage\",")?;
    let tail = rest.strip_suffix("}]")?;
    let digits = tail.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (head, id) = tail.split_at(tail.len() - digits);
    let id = match head.ends_with(ID) {
        true => id.parse().ok()?,
        false => leading_number(rest.split_once(ID)?.1)?,
    };
    let object = rest.get(rest.find('{')?..)?;
    let sent = match object.strip_prefix(TEXT) {
        Some(text) => leading_number(text),
        None => object
            .split_once(&TEXT[1..])
            .and_then(|(_, text)| leading_number(text)),
    };
    Some((id, sent))
}

fn leading_number(text: &str) -> Option<u64> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text.get(..digits)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_io_packets() {
        assert_eq!(
            parse_eio("0{\"sid\":\"a\"}"),
            EioPacket::Open("{\"sid\":\"a\"}")
        );
        assert_eq!(parse_eio("2"), EioPacket::Ping);
        assert_eq!(parse_eio("3"), EioPacket::Pong);
        assert_eq!(parse_eio("40"), EioPacket::Message("0"));
        assert_eq!(parse_eio(""), EioPacket::Other);
        assert_eq!(
            ping_interval("{\"sid\":\"x\",\"pingInterval\":25000,\"pingTimeout\":20000}"),
            Some(Duration::from_millis(25000))
        );
    }

    #[test]
    fn socket_io_packets() {
        let p = parse_sio("3/chat-service,12[null,7]").unwrap();
        assert_eq!(
            (p.kind, p.nsp, p.ack, p.data),
            (3, NAMESPACE, Some(12), "[null,7]")
        );
        let p = parse_sio("2/chat-service,[\"loginConfirmed\",\"u\",{}]").unwrap();
        assert_eq!((p.kind, p.ack), (2, None));
        assert_eq!(p.data, "[\"loginConfirmed\",\"u\",{}]");
        let p = parse_sio("0").unwrap();
        assert_eq!((p.kind, p.nsp, p.data), (0, "/", ""));
        let p = parse_sio("0/chat-service").unwrap();
        assert_eq!((p.nsp, p.data), (NAMESPACE, ""));
        let p = parse_sio("51-/chat-service,3[\"x\"]").unwrap();
        assert_eq!((p.kind, p.nsp, p.ack), (5, NAMESPACE, Some(3)));
        assert!(parse_sio("9").is_none());
        assert!(parse_sio("").is_none());
        assert!(parse_sio("399999999999999999999999[]").is_none());
    }

    #[test]
    fn acks() {
        assert_eq!(ack_result("[null,7]"), Ok("7"));
        assert_eq!(ack_result("[null,null]"), Ok("null"));
        assert_eq!(ack_result("[null]"), Ok("null"));
        assert_eq!(
            ack_result("[\"ChatServiceError: Room r already exists\",null]"),
            Err("\"ChatServiceError: Room r already exists\",null")
        );
        assert_eq!(ack_result("garbage"), Err("garbage"));
    }

    #[test]
    fn notifications() {
        let data = r#"["roomMessage","r1",{"textMessage":"t1234","author":"u","timestamp":1700000000000,"id":42}]"#;
        assert_eq!(room_message(data), Some((42, Some(1234))));
        let data = r#"["roomMessage","r1",{"textMessage":"hello","id":3}]"#;
        assert_eq!(room_message(data), Some((3, None)));
        let data = r#"["roomMessage","r1",{"id":5,"author":"u","textMessage":"t77"}]"#;
        assert_eq!(room_message(data), Some((5, Some(77))));
        assert_eq!(room_message(r#"["roomUserJoined","r1","u"]"#), None);
        assert_eq!(room_message(r#"["roomMessage","r1",{"id":"x"}]"#), None);
    }
}
