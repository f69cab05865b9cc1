//! The tutorial's first way: SSHClient, a host-key policy, password login, exec_command.
//!
//! `cargo run --example seed_sshclient -- HOST[:PORT] USER` with the password in $AMIKO_PASSWORD.

use std::io::{Read, Write};

use amiko::blocking::{ConnectOptions, SSHClient};
use amiko::HostKeyPolicy;

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

    let (_stdin, mut stdout, _stderr) = client.exec_command("uname -n")?;
    let mut name = String::new();
    stdout.read_to_string(&mut name)?;
    print!("uname -n: {name}");

    let (mut stdin, stdout, _stderr) = client.exec_command("read VAR ; echo $VAR")?;
    stdin.write_all(b"A\n")?;
    stdin.flush()?;
    let mut stdout = stdout;
    println!("read VAR ; echo $VAR → {:?}", stdout.readlines()?);

    let (_i, o, _e) = client.exec_command("cd /tmp")?;
    o.channel().recv_exit_status()?;
    let (_i, mut o, _e) = client.exec_command("pwd")?;
    let mut pwd = String::new();
    o.read_to_string(&mut pwd)?;
    print!("after `cd /tmp` in another exec, pwd is still: {pwd}");
    client.close();
    Ok(())
}
