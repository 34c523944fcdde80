//! A webhook receiver for the alert tests: a small HTTP/1.1 listener on
//! loopback that records each request, and the HMAC its signature is
//! checked with, written out here rather than taken from the hub.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

/// (headers lower-cased, body) of every request the receiver took.
pub type Seen = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

/// A small HTTP/1.1 receiver on loopback: records each request, answers 200.
pub fn receiver() -> (String, Seen) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let s = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.trim_end().split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            s.lock().unwrap().push((headers, body));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

/// HMAC-SHA256 (RFC 2104), written out here rather than taken from the hub.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    hex::encode(
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize(),
    )
}

/// Waits (bounded) until the receiver holds `n` requests; their bodies.
pub fn wait_for(seen: &Seen, secret: &str, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        {
            let seen = seen.lock().unwrap();
            if seen.len() >= n {
                return seen
                    .iter()
                    .map(|(headers, body)| {
                        let sig = headers
                            .iter()
                            .find(|(k, _)| k == "x-jxc-signature")
                            .map(|(_, v)| v.clone())
                            .expect("a signature header");
                        assert_eq!(
                            sig,
                            format!("sha256={}", hmac_sha256(secret.as_bytes(), body))
                        );
                        serde_json::from_slice(body).unwrap()
                    })
                    .collect();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the webhook got {} of {n} messages in 60 s",
            seen.lock().unwrap().len()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
