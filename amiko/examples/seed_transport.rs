//! The tutorial's second way: Transport, open_session, a recv loop, exit status, and the reuse error.
//!
//! `cargo run --example seed_transport -- HOST[:PORT] USER` with the password in $AMIKO_PASSWORD.

use std::time::Duration;

use amiko::blocking::Transport;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_else(|| "127.0.0.1:22".into());
    let user = args.next().unwrap_or_else(|| std::env::var("USER").unwrap_or_default());
    let (host, port) = target
        .rsplit_once(':')
        .map_or((target.as_str(), 22), |(h, p)| (h, p.parse().unwrap_or(22)));
    let mut transport = Transport::new(host, port);
    transport.connect(&user, &std::env::var("AMIKO_PASSWORD").unwrap_or_default())?;
    println!(
        "active: {}, authenticated: {}",
        transport.is_active(),
        transport.is_authenticated()
    );
    let channel = transport.open_session()?;
    channel.exec_command("uname -n")?;
    loop {
        println!(
            "recv_ready={} recv_stderr_ready={} exit_status_ready={}",
            channel.recv_ready(),
            channel.recv_stderr_ready(),
            channel.exit_status_ready()
        );
        if channel.recv_ready() {
            print!("{}", String::from_utf8_lossy(&channel.recv(1024)?));
        } else if channel.exit_status_ready() {
            break;
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    println!("exit status: {}", channel.recv_exit_status()?);
    match channel.exec_command("whoami") {
        Err(e) => println!("reusing the channel: {e}"),
        Ok(()) => println!("unexpected: the channel was reused"),
    }
    transport.close();
    Ok(())
}
