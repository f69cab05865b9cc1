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

/// Dynamic forwarding, as ssh's `-D [bind_address:]port`: a SOCKS4/4a/5 proxy (CONNECT, no authentication) whose
/// connections go out through direct-tcpip channels.
pub mod socks {
    use std::time::Duration;

    use amiko::Client;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    /// A client has this long to say where it wants to go.
    const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// Longest user id or host name accepted in a SOCKS4/4a request (SOCKS5 names are at most 255 by format).
    const MAX_FIELD: usize = 255;

    /// Parses `[bind_address:]port`.
    pub fn parse(spec: &str) -> Result<(String, u16), String> {
        let f = super::fields(spec);
        let (bind, port) = match f.len() {
            1 => ("127.0.0.1".to_string(), &f[0]),
            2 => (
                match f[0].as_str() {
                    "" | "*" => "0.0.0.0".to_string(),
                    "localhost" => "127.0.0.1".to_string(),
                    b => b.to_string(),
                },
                &f[1],
            ),
            _ => return Err(format!("bad dynamic forwarding '{spec}': expected [bind:]port")),
        };
        Ok((bind, port.parse().map_err(|_| format!("bad port in '{spec}'"))?))
    }

    /// Reads bytes up to a NUL (not included), at most MAX_FIELD of them.
    async fn read_cstr(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let b = s.read_u8().await?;
            if b == 0 {
                return Ok(out);
            }
            if out.len() == MAX_FIELD {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "SOCKS4 field too long",
                ));
            }
            out.push(b);
        }
    }

    fn bad(what: &str) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
    }

    /// The SOCKS handshake up to the destination: (version, host, port).
    async fn request(s: &mut TcpStream) -> std::io::Result<(u8, String, u16)> {
        match s.read_u8().await? {
            4 => {
                if s.read_u8().await? != 1 {
                    s.write_all(&[0, 0x5b, 0, 0, 0, 0, 0, 0]).await?;
                    return Err(bad("SOCKS4: only CONNECT is supported"));
                }
                let port = s.read_u16().await?;
                let mut ip = [0u8; 4];
                s.read_exact(&mut ip).await?;
                read_cstr(s).await?; // user id, ignored
                let host = if ip[..3] == [0, 0, 0] && ip[3] != 0 {
                    String::from_utf8(read_cstr(s).await?).map_err(|_| bad("SOCKS4a: host name is not UTF-8"))?
                } else {
                    std::net::Ipv4Addr::from(ip).to_string()
                };
                Ok((4, host, port))
            }
            5 => {
                let n = s.read_u8().await? as usize;
                let mut methods = vec![0u8; n];
                s.read_exact(&mut methods).await?;
                if !methods.contains(&0) {
                    s.write_all(&[5, 0xff]).await?;
                    return Err(bad("SOCKS5: the client offers no method without authentication"));
                }
                s.write_all(&[5, 0]).await?;
                let mut head = [0u8; 4];
                s.read_exact(&mut head).await?;
                if head[0] != 5 || head[1] != 1 {
                    s.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
                    return Err(bad("SOCKS5: only CONNECT is supported"));
                }
                let host = match head[3] {
                    1 => {
                        let mut ip = [0u8; 4];
                        s.read_exact(&mut ip).await?;
                        std::net::Ipv4Addr::from(ip).to_string()
                    }
                    3 => {
                        let len = s.read_u8().await? as usize;
                        let mut name = vec![0u8; len];
                        s.read_exact(&mut name).await?;
                        String::from_utf8(name).map_err(|_| bad("SOCKS5: host name is not UTF-8"))?
                    }
                    4 => {
                        let mut ip = [0u8; 16];
                        s.read_exact(&mut ip).await?;
                        std::net::Ipv6Addr::from(ip).to_string()
                    }
                    _ => {
                        s.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
                        return Err(bad("SOCKS5: unknown address type"));
                    }
                };
                Ok((5, host, s.read_u16().await?))
            }
            _ => Err(bad("not a SOCKS4 or SOCKS5 request")),
        }
    }

    async fn serve_one(client: Client, mut tcp: TcpStream) {
        let _ = tcp.set_nodelay(true);
        let Ok(Ok((version, host, port))) = tokio::time::timeout(HANDSHAKE_TIMEOUT, request(&mut tcp)).await else {
            return;
        };
        let (ok, refused): (&[u8], &[u8]) = if version == 4 {
            (&[0, 0x5a, 0, 0, 0, 0, 0, 0], &[0, 0x5b, 0, 0, 0, 0, 0, 0])
        } else {
            (&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0], &[5, 5, 0, 1, 0, 0, 0, 0, 0, 0])
        };
        match client.open_direct_tcpip(&host, port).await {
            Ok(mut ch) => {
                if tcp.write_all(ok).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut ch).await;
                }
            }
            Err(e) => {
                eprintln!("amiko: SOCKS connect to {host}:{port}: {e}");
                let _ = tcp.write_all(refused).await;
            }
        }
    }

    /// Binds every `-D` port now and serves SOCKS on them in the background; returns tasks and bound addresses.
    pub async fn start(client: &Client, specs: &[(String, u16)]) -> Result<Vec<(JoinHandle<()>, String)>, String> {
        let mut out = Vec::new();
        for (bind, port) in specs {
            let listener = TcpListener::bind((bind.as_str(), *port))
                .await
                .map_err(|e| format!("cannot listen on {bind}:{port}: {e}"))?;
            let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
            let client = client.clone();
            let task = tokio::spawn(async move {
                loop {
                    if let Ok((tcp, _)) = listener.accept().await {
                        tokio::spawn(serve_one(client.clone(), tcp));
                    }
                }
            });
            out.push((task, addr));
        }
        Ok(out)
    }
}
