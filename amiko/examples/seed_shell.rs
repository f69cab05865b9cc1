//! The tutorial's third way: invoke_shell keeps state between commands; `exit` ends it with status 0.
//!
//! `cargo run --example seed_shell -- HOST[:PORT] USER` with the password in $AMIKO_PASSWORD.

use std::time::Duration;

use amiko::blocking::{ConnectOptions, SSHClient};
use amiko::HostKeyPolicy;

fn drain(shell: &amiko::blocking::Channel) -> String {
    std::thread::sleep(Duration::from_millis(300));
    let mut out = String::new();
    while shell.recv_ready() {
        out.push_str(&String::from_utf8_lossy(&shell.recv(4096).unwrap_or_default()));
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_else(|| "127.0.0.1:22".into());
    let user = args.next().unwrap_or_else(|| std::env::var("USER").unwrap_or_default());
    let (host, port) = target
        .rsplit_once(':')
        .map_or((target.as_str(), 22), |(h, p)| (h, p.parse().unwrap_or(22)));
    let mut client = SSHClient::new();
    client.load_system_host_keys();
    client.set_missing_host_key_policy(HostKeyPolicy::AutoAdd);
    let password = std::env::var("AMIKO_PASSWORD").ok();
    client.connect(
        host,
        ConnectOptions {
            port,
            username: user,
            password,
            look_for_keys: true,
            ..Default::default()
        },
    )?;
    let shell = client.invoke_shell()?;
    drain(&shell); // the banner and prompt, discarded as in the tutorial
    shell.send(b"read VAR\n")?;
    shell.send(b"A\n")?;
    drain(&shell);
    shell.send(b"echo $VAR\n")?;
    print!("{}", drain(&shell));
    shell.send(b"exit\n")?;
    println!(
        "\nexit status: {}, closed: {}",
        shell.recv_exit_status()?,
        shell.closed()
    );
    Ok(())
}
