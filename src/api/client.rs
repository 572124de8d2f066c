//! The blocking client used by the CLI, the tests and the stress tool.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::proto::{ApiError, ErrorCode, Incoming, PROTOCOL_VERSION};

pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    /// Replies that arrived while waiting for another one (replies come in completion
    /// order, not request order).
    early: std::collections::HashMap<u64, Incoming>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("socket i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("the daemon closed the connection")]
    Closed,
    #[error("malformed reply from the daemon: {0}")]
    Decode(serde_json::Error),
    #[error("{0}")]
    Api(ApiError),
}

impl ClientError {
    pub fn api_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api(e) => Some(e.code),
            _ => None,
        }
    }
}

impl Client {
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        let s = UnixStream::connect(path)
            .map_err(|e| ClientError::Connect(path.display().to_string(), e))?;
        Ok(Self {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
            next_id: 1,
            early: std::collections::HashMap::new(),
        })
    }

    /// A second handle on the same connection for writing (stdin forwarding).
    pub fn writer(&self) -> std::io::Result<UnixStream> {
        self.writer.try_clone()
    }

    /// Sends a request without waiting; returns its id.
    pub fn send(&mut self, method: &str, params: serde_json::Value) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_vec(&serde_json::json!({
            "v": PROTOCOL_VERSION, "id": id, "method": method, "params": params,
        }))
        .map_err(ClientError::Decode)?;
        line.push(b'\n');
        self.writer.write_all(&line)?;
        Ok(id)
    }

    /// Reads the next line from the daemon.
    pub fn next_message(&mut self) -> Result<Incoming, ClientError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ClientError::Closed);
        }
        serde_json::from_str(&line).map_err(ClientError::Decode)
    }

    /// Sends a request and waits for its reply, skipping events.
    pub fn call(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let id = self.send(method, params)?;
        self.wait_reply(id)
    }

    /// Waits for the reply to `id`; other replies are kept for their own `wait_reply`,
    /// stream events are skipped.
    pub fn wait_reply(&mut self, id: u64) -> Result<serde_json::Value, ClientError> {
        if let Some(m) = self.early.remove(&id) {
            return into_result(m);
        }
        loop {
            let m = self.next_message()?;
            match (m.id, m.event.is_none()) {
                (Some(got), true) if got == id => return into_result(m),
                (Some(got), true) => {
                    self.early.insert(got, m);
                }
                _ => {}
            }
        }
    }
}

pub fn into_result(m: Incoming) -> Result<serde_json::Value, ClientError> {
    match (m.ok, m.error) {
        (Some(true), _) => Ok(m.result.unwrap_or_default()),
        (_, Some(e)) => Err(ClientError::Api(e)),
        _ => Err(ClientError::Api(ApiError::new(
            ErrorCode::Internal,
            "reply without ok or error",
        ))),
    }
}
