//! Port forwarding on the command line, as ssh does it: `-L` (local: each connection to a local port or socket
//! becomes a direct-tcpip or direct-streamlocal channel) and `-R` (remote: the server listens on a port or socket
//! and hands each connection back, which we connect to a local host:port or socket). A side is a Unix socket when
//! it contains a '/', as ssh decides.

use std::path::PathBuf;
use std::sync::Arc;

use amiko::Client;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::task::JoinHandle;

/// One side of a forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address: where to listen (bind address, port) or where to connect (host, port).
    Tcp(String, u16),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(h, p) if h.contains(':') => write!(f, "[{h}]:{p}"),
            Endpoint::Tcp(h, p) => write!(f, "{h}:{p}"),
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One `-L` or `-R` specification: `listen` is on our side for -L and on the server for -R.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// Where to listen.
    pub listen: Endpoint,
    /// Where each connection goes.
    pub target: Endpoint,
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

fn is_path(s: &str) -> bool {
    s.contains('/')
}

impl Forward {
    /// Parses a `-L` specification: `[bind_address:]port:host:hostport`, `[bind_address:]port:remote_socket`,
    /// `local_socket:host:hostport` or `local_socket:remote_socket` (IPv6 addresses in brackets). Without a bind
    /// address the port listens on loopback; `*` or an empty one means every address.
    pub fn parse(spec: &str) -> Result<Self, String> {
        Self::parse_with(spec, |bind| match bind {
            None | Some("localhost") => "127.0.0.1".into(),
            Some("" | "*") => "0.0.0.0".into(),
            Some(b) => b.into(),
        })
    }

    /// Parses a `-R` specification: `[bind_address:]port:host:hostport`, `[bind_address:]port:local_socket`,
    /// `remote_socket:host:hostport` or `remote_socket:local_socket`. The bind address goes to the server as ssh
    /// sends it: "localhost" when none is given, "" for `*`.
    pub fn parse_remote(spec: &str) -> Result<Self, String> {
        Self::parse_with(spec, |bind| match bind {
            None => "localhost".into(),
            Some("*") => String::new(),
            Some(b) => b.into(),
        })
    }

    fn parse_with(spec: &str, bind: impl Fn(Option<&str>) -> String) -> Result<Self, String> {
        let f = fields(spec);
        let bad = || format!("bad forwarding specification '{spec}'");
        let port = |s: &str, what: &str| s.parse::<u16>().map_err(|_| format!("bad {what} port in '{spec}'"));
        let host = |h: &str, p: &str| -> Result<Endpoint, String> {
            if h.is_empty() {
                return Err(format!("no host in '{spec}'"));
            }
            Ok(Endpoint::Tcp(h.to_string(), port(p, "target")?))
        };
        let listen = |b: Option<&str>, p: &str| -> Result<Endpoint, String> {
            if is_path(p) {
                return Ok(Endpoint::Unix(p.into()));
            }
            Ok(Endpoint::Tcp(bind(b), port(p, "listen")?))
        };
        let (l, t) = match f.as_slice() {
            [a, b] if is_path(b) => (listen(None, a)?, Endpoint::Unix(b.into())),
            [a, b, c] if is_path(a) => (Endpoint::Unix(a.into()), host(b, c)?),
            [a, b, c] if is_path(c) => (listen(Some(a), b)?, Endpoint::Unix(c.into())),
            [a, b, c] => (listen(None, a)?, host(b, c)?),
            [a, b, c, d] if !is_path(b) => (listen(Some(a), b)?, host(c, d)?),
            _ => return Err(bad()),
        };
        Ok(Forward { listen: l, target: t })
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    async fn bind(at: &Endpoint) -> Result<(Listener, String), String> {
        match at {
            Endpoint::Tcp(bind, port) => {
                let l = TcpListener::bind((bind.as_str(), *port))
                    .await
                    .map_err(|e| format!("cannot listen on {at}: {e}"))?;
                let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                Ok((Listener::Tcp(l), addr))
            }
            // As ssh without StreamLocalBindUnlink: an existing file is an error, never replaced.
            Endpoint::Unix(p) => Ok((
                Listener::Unix(UnixListener::bind(p).map_err(|e| format!("cannot listen on {at}: {e}"))?),
                at.to_string(),
            )),
        }
    }

    async fn accept(&self) -> std::io::Result<(Box<dyn Stream>, String)> {
        match self {
            Listener::Tcp(l) => {
                let (s, from) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Box::new(s), from.to_string()))
            }
            Listener::Unix(l) => Ok((Box::new(l.accept().await?.0), "a local socket".into())),
        }
    }
}

/// Binds every `-L` forward now (so errors show before the session starts) and serves them in the background.
/// Returns the tasks and the bound addresses.
pub async fn start(client: &Client, forwards: &[Forward]) -> Result<Vec<(JoinHandle<()>, String)>, String> {
    let mut out = Vec::new();
    for f in forwards {
        let (listener, addr) = Listener::bind(&f.listen).await?;
        let (client, f) = (client.clone(), Arc::new(f.clone()));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, from)) = listener.accept().await else {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let (client, f) = (client.clone(), f.clone());
                tokio::spawn(async move {
                    let ch = match &f.target {
                        Endpoint::Tcp(host, port) => client.open_direct_tcpip(host, *port).await,
                        Endpoint::Unix(path) => client.open_direct_streamlocal(&path.to_string_lossy()).await,
                    };
                    match ch {
                        Ok(mut ch) => {
                            let _ = tokio::io::copy_bidirectional(&mut stream, &mut ch).await;
                        }
                        // As ssh: say why on stderr and close this connection; the listener keeps going.
                        Err(e) => eprintln!("amiko: forwarding {from} to {}: {e}", f.target),
                    }
                });
            }
        });
        out.push((task, addr));
    }
    Ok(out)
}

async fn connect_local(target: &Endpoint) -> std::io::Result<Box<dyn Stream>> {
    Ok(match target {
        Endpoint::Tcp(host, port) => {
            let s = TcpStream::connect((host.as_str(), *port)).await?;
            let _ = s.set_nodelay(true);
            Box::new(s)
        }
        Endpoint::Unix(p) => Box::new(UnixStream::connect(p).await?),
    })
}

/// Asks the server for every `-R` forward now (a refusal is an error, as with ExitOnForwardFailure) and serves
/// them in the background: each connection the server hands back goes to the forward's local target. Returns
/// the tasks and what the server listens on.
pub async fn start_remote(
    client: &Client,
    forwards: &[Forward],
    quiet: bool,
) -> Result<Vec<(JoinHandle<()>, String)>, String> {
    let mut out = Vec::new();
    for f in forwards {
        let fwd = match &f.listen {
            Endpoint::Tcp(bind, port) => client.request_remote_forward(bind, *port).await,
            Endpoint::Unix(path) => client.request_remote_streamlocal(&path.to_string_lossy()).await,
        };
        let mut fwd = fwd.map_err(|e| format!("remote port forwarding failed for listen {}: {e}", f.listen))?;
        let listening = match &f.listen {
            Endpoint::Tcp(bind, 0) => {
                // As ssh: the user needs to know which port the server picked.
                if !quiet {
                    eprintln!("Allocated port {} for remote forward to {}", fwd.port(), f.target);
                }
                Endpoint::Tcp(bind.clone(), fwd.port()).to_string()
            }
            l => l.to_string(),
        };
        let target = Arc::new(f.target.clone());
        let task = tokio::spawn(async move {
            while let Ok(incoming) = fwd.accept().await {
                let target = target.clone();
                tokio::spawn(async move {
                    match connect_local(&target).await {
                        Ok(mut stream) => {
                            if let Ok(mut ch) = incoming.accept() {
                                let _ = tokio::io::copy_bidirectional(&mut stream, &mut ch).await;
                            }
                        }
                        Err(e) => {
                            eprintln!("amiko: remote forward to {target}: {e}");
                            incoming.reject(2, &format!("connect failed: {e}"));
                        }
                    }
                });
            }
        });
        out.push((task, listening));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifications_parse_as_ssh_reads_them() {
        let tcp = |h: &str, p| Endpoint::Tcp(h.into(), p);
        let f = Forward::parse("8080:db:5432").unwrap();
        assert_eq!((f.listen, f.target), (tcp("127.0.0.1", 8080), tcp("db", 5432)));
        let f = Forward::parse("*:80:[::1]:8080").unwrap();
        assert_eq!((f.listen, f.target), (tcp("0.0.0.0", 80), tcp("::1", 8080)));
        let f = Forward::parse("[::1]:0:web:80").unwrap();
        assert_eq!(f.listen, tcp("::1", 0));
        let f = Forward::parse("8080:/run/app.sock").unwrap();
        assert_eq!(
            (f.listen, f.target),
            (tcp("127.0.0.1", 8080), Endpoint::Unix("/run/app.sock".into()))
        );
        let f = Forward::parse("/tmp/l.sock:db:5432").unwrap();
        assert_eq!(
            (f.listen, f.target),
            (Endpoint::Unix("/tmp/l.sock".into()), tcp("db", 5432))
        );
        let f = Forward::parse("/tmp/l.sock:/run/r.sock").unwrap();
        assert_eq!(f.target, Endpoint::Unix("/run/r.sock".into()));
        let f = Forward::parse("0.0.0.0:8080:/run/app.sock").unwrap();
        assert_eq!(f.listen, tcp("0.0.0.0", 8080));
        for bad in ["80", "80:db", "x:db:1", "80:db:y", "1:2:3:4:5", "80::90", "a:/x:c:d"] {
            assert!(Forward::parse(bad).is_err(), "{bad}");
        }
        // -R: the bind address goes to the server as ssh sends it.
        let f = Forward::parse_remote("8080:localhost:80").unwrap();
        assert_eq!((f.listen, f.target), (tcp("localhost", 8080), tcp("localhost", 80)));
        assert_eq!(Forward::parse_remote("*:0:h:1").unwrap().listen, tcp("", 0));
        let f = Forward::parse_remote("/run/r.sock:/tmp/l.sock").unwrap();
        assert_eq!(f.listen, Endpoint::Unix("/run/r.sock".into()));
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
