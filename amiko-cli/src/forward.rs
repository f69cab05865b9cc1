//! Local port forwarding, as ssh's `-L [bind_address:]port:host:hostport`: each connection to the local port
//! becomes a direct-tcpip channel to host:hostport, opened by the server.

use std::sync::Arc;

use amiko::Client;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One `-L` specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalForward {
    /// Where to listen (ssh's default: loopback only).
    pub bind: String,
    /// Local port (0: any free port).
    pub port: u16,
    /// The host the server connects to.
    pub host: String,
    /// Its port.
    pub host_port: u16,
}

/// Splits on ':' outside brackets, removing the brackets (`[::1]:80` → ["::1", "80"]).
fn fields(spec: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0;
    for c in spec.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

impl LocalForward {
    /// Parses `[bind_address:]port:host:hostport` (IPv6 addresses in brackets).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let f = fields(spec);
        let (bind, rest) = match f.len() {
            3 => ("127.0.0.1".to_string(), &f[..]),
            4 => (
                match f[0].as_str() {
                    "" | "*" => "0.0.0.0".to_string(),
                    "localhost" => "127.0.0.1".to_string(),
                    b => b.to_string(),
                },
                &f[1..],
            ),
            _ => {
                return Err(format!(
                    "bad forwarding specification '{spec}': expected [bind:]port:host:hostport"
                ))
            }
        };
        let port = rest[0].parse().map_err(|_| format!("bad local port in '{spec}'"))?;
        let host_port = rest[2].parse().map_err(|_| format!("bad remote port in '{spec}'"))?;
        if rest[1].is_empty() {
            return Err(format!("no host in '{spec}'"));
        }
        Ok(LocalForward {
            bind,
            port,
            host: rest[1].clone(),
            host_port,
        })
    }
}

/// Binds every forward's local port now (so errors show before the session starts) and serves them in the
/// background. Returns the tasks and the bound addresses.
pub async fn start(client: &Client, forwards: &[LocalForward]) -> Result<Vec<(JoinHandle<()>, String)>, String> {
    let mut out = Vec::new();
    for f in forwards {
        let listener = TcpListener::bind((f.bind.as_str(), f.port))
            .await
            .map_err(|e| format!("cannot listen on {}:{}: {e}", f.bind, f.port))?;
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let (client, f) = (client.clone(), Arc::new(f.clone()));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut tcp, from)) = listener.accept().await else {
                    continue;
                };
                let (client, f) = (client.clone(), f.clone());
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    match client.open_direct_tcpip(&f.host, f.host_port).await {
                        Ok(mut ch) => {
                            let _ = tokio::io::copy_bidirectional(&mut tcp, &mut ch).await;
                        }
                        // As ssh: say why on stderr and close this connection; the listener keeps going.
                        Err(e) => eprintln!("amiko: forwarding {from} to {}:{}: {e}", f.host, f.host_port),
                    }
                });
            }
        });
        out.push((task, addr));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifications_parse_as_ssh_reads_them() {
        let f = LocalForward::parse("8080:db:5432").unwrap();
        assert_eq!(
            (f.bind.as_str(), f.port, f.host.as_str(), f.host_port),
            ("127.0.0.1", 8080, "db", 5432)
        );
        let f = LocalForward::parse("*:80:[::1]:8080").unwrap();
        assert_eq!((f.bind.as_str(), f.host.as_str()), ("0.0.0.0", "::1"));
        let f = LocalForward::parse("[::1]:0:web:80").unwrap();
        assert_eq!((f.bind.as_str(), f.port), ("::1", 0));
        for bad in ["80", "80:db", "x:db:1", "80:db:y", "1:2:3:4:5", "80::90"] {
            assert!(LocalForward::parse(bad).is_err(), "{bad}");
        }
    }
}
