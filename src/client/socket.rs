//! One subscription over the graphql-transport-ws protocol (what `graphql-ws`
//! clients speak and the server's `/graphql/ws` answers).

use std::time::Duration;

use futures::{SinkExt, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Answer, ClientError, GraphqlError, graphql_error};

const PROTOCOL: &str = "graphql-transport-ws";
/// How long the server may take to acknowledge `connection_init`.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An acknowledged connection with one subscription started on it.
pub struct Subscription {
    socket: Socket,
    url: String,
}

fn text(value: &Value) -> Message {
    Message::Text(value.to_string().into())
}

impl Subscription {
    /// Connect, authenticate with `token` in `connection_init`, and subscribe
    /// with `payload` (`{query, variables, operationName}`).
    pub async fn open(url: &str, token: Option<&str>, payload: Value) -> Result<Self, ClientError> {
        let failed = |message: String| ClientError::Unreachable {
            url: url.to_owned(),
            message,
        };
        let mut request = url.into_client_request().map_err(|e| failed(e.to_string()))?;
        request.headers_mut().insert(
            "sec-websocket-protocol",
            tokio_tungstenite::tungstenite::http::HeaderValue::from_static(PROTOCOL),
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let init = match token {
            Some(token) => json!({"Authorization": format!("Bearer {token}")}),
            None => json!({}),
        };
        socket
            .send(text(&json!({"type": "connection_init", "payload": init})))
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut subscription = Self {
            socket,
            url: url.to_owned(),
        };
        match tokio::time::timeout(ACK_TIMEOUT, subscription.acknowledged()).await {
            Ok(outcome) => outcome?,
            Err(_) => return Err(subscription.protocol("no connection_ack within 10 s".into())),
        }
        subscription
            .socket
            .send(text(&json!({"id": "1", "type": "subscribe", "payload": payload})))
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(subscription)
    }

    fn protocol(&self, message: String) -> ClientError {
        ClientError::Protocol {
            url: self.url.clone(),
            status: "websocket".into(),
            message,
        }
    }

    async fn acknowledged(&mut self) -> Result<(), ClientError> {
        loop {
            match self.message().await? {
                Some(m) if m["type"] == "connection_ack" => return Ok(()),
                Some(m) if m["type"] == "ping" => self.pong().await?,
                Some(m) => return Err(self.protocol(format!("expected connection_ack, got {m}"))),
                None => return Err(self.protocol("closed before connection_ack".into())),
            }
        }
    }

    async fn pong(&mut self) -> Result<(), ClientError> {
        let pong = text(&json!({"type": "pong"}));
        self.socket
            .send(pong)
            .await
            .map_err(|e| self.protocol(e.to_string()))
    }

    /// The next protocol message; `None` once the socket closed.
    async fn message(&mut self) -> Result<Option<Value>, ClientError> {
        while let Some(frame) = self.socket.next().await {
            match frame.map_err(|e| self.protocol(e.to_string()))? {
                Message::Text(body) => {
                    return serde_json::from_str(&body)
                        .map(Some)
                        .map_err(|e| self.protocol(format!("message is not JSON: {e}")));
                }
                Message::Close(frame) => {
                    let reason = frame.map(|f| format!("{} {}", f.code, f.reason));
                    return Err(self.protocol(format!(
                        "closed by the server ({})",
                        reason.unwrap_or_else(|| "no reason".into())
                    )));
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Each `next` payload's data, until `complete`; an `error` (or GraphQL
    /// errors in a payload) ends the stream with that error.
    pub fn into_stream<T: DeserializeOwned>(mut self) -> impl Stream<Item = Result<T, ClientError>> {
        async_stream::stream! {
            loop {
                let message = match self.message().await {
                    Ok(Some(message)) => message,
                    Ok(None) => {
                        yield Err(self.protocol("closed before the subscription completed".into()));
                        break;
                    }
                    Err(error) => {
                        yield Err(error);
                        break;
                    }
                };
                match message["type"].as_str() {
                    Some("next") => match serde_json::from_value::<Answer<T>>(message["payload"].clone()) {
                        Ok(answer) if !answer.errors.is_empty() => {
                            yield Err(graphql_error(&answer.errors));
                            break;
                        }
                        Ok(Answer { data: Some(data), .. }) => yield Ok(data),
                        Ok(_) => {}
                        Err(e) => {
                            yield Err(self.protocol(format!("unexpected payload ({e}): {message}")));
                            break;
                        }
                    },
                    Some("error") => {
                        let errors: Vec<GraphqlError> =
                            serde_json::from_value(message["payload"].clone()).unwrap_or_default();
                        yield Err(graphql_error(&errors));
                        break;
                    }
                    Some("complete") => break,
                    Some("ping") => {
                        if let Err(error) = self.pong().await {
                            yield Err(error);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let _ = self.socket.close(None).await;
        }
    }
}
