//! `serve` on a real socket: answers, then stops when its shutdown future
//! resolves, letting a request already in progress finish first.

use crate::common::Ctx;
use leadq_store::LeadKey;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads from `s` until `buf` holds a complete head (`\r\n\r\n`) and, when
/// the head names a `content-length`, that many body bytes after it.
async fn read_message(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse::<usize>().expect("a length"));
                if buf.len() >= end + 4 + len {
                    let msg: Vec<u8> = buf.drain(..end + 4 + len).collect();
                    return String::from_utf8_lossy(&msg).into_owned();
                }
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.expect("the socket reads");
            assert!(n > 0, "the server closed the connection early: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the server answers")
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_stops_when_told_and_lets_a_request_in_progress_finish() {
    let ctx = Ctx::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a socket");
    let addr = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(leadq_server::serve(
        ctx.state.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));

    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("the server answers");
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.expect("JSON");
    assert_eq!(body["status"], "ok");
    assert!(!server.is_finished(), "serve runs until told to stop");

    // A request whose handler is waiting for its body when shutdown begins:
    // the server asks for the body (100 Continue) only once the handler
    // reads it.
    let doc = r#"{"email":"late@acme.io","company":"Acme"}"#;
    let mut s = TcpStream::connect(addr).await.expect("a connection");
    s.write_all(
        format!(
            "POST /api/v1/leads HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
            ctx.marketing,
            doc.len()
        )
        .as_bytes(),
    )
    .await
    .expect("the head is sent");
    let mut buf = Vec::new();
    let interim = read_message(&mut s, &mut buf).await;
    assert!(
        interim.starts_with("HTTP/1.1 100"),
        "the handler asks for the body: {interim}"
    );

    stop.send(())
        .expect("serve is still waiting for the signal");
    s.write_all(doc.as_bytes()).await.expect("the body is sent");
    let answer = read_message(&mut s, &mut buf).await;
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the request in progress got its answer: {answer}"
    );
    assert!(answer.contains("late@acme.io"), "{answer}");

    let result = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("serve returns after the shutdown signal")
        .expect("serve does not panic");
    assert!(result.is_ok(), "serve ends cleanly: {result:?}");
    assert!(
        ctx.state
            .store
            .find_lead(&LeadKey::Email("late@acme.io".into()))
            .expect("the store reads")
            .is_some(),
        "the lead of the last request was stored"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}
