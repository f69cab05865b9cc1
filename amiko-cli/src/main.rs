//! `amiko`: ssh-style commands on the amiko library.

mod demo;
mod exec;
mod forward;
mod opts;
mod run;
mod serve;
// The parser is in the library target so the fuzz target can reach it.
use amiko_cli::ssh_config;
mod transfer;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "amiko",
    version,
    about = "SSH toolkit: ssh-style exec and shell, a server, and a demo"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a command on a host, like `ssh host -- command` (exit status is the remote one, 255 on SSH errors).
    Exec {
        #[command(flatten)]
        ssh: opts::SshArgs,
        /// [user@]host or ssh://[user@]host[:port]
        destination: String,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Open an interactive shell (raw terminal on a TTY; lines piped otherwise).
    Shell {
        #[command(flatten)]
        ssh: opts::SshArgs,
        /// [user@]host or ssh://[user@]host[:port]
        destination: String,
    },
    /// Print the configuration that applies to a destination, as `ssh -G` does (the keys amiko uses).
    Config {
        #[command(flatten)]
        ssh: opts::SshArgs,
        /// [user@]host[:port]
        destination: String,
    },
    /// Forward ports and sockets only, no command (as `ssh -N -L ... -R ... -D ...`): runs until interrupted.
    Forward {
        #[command(flatten)]
        ssh: opts::SshArgs,
        /// [user@]host or ssh://[user@]host[:port]
        destination: String,
    },
    /// Download over SFTP: `amiko get [-r] [--resume] [user@]host:remote local`.
    Get {
        #[command(flatten)]
        args: transfer::TransferArgs,
        /// [user@]host:path
        remote: String,
        /// Local path (a directory keeps the remote name).
        local: String,
    },
    /// Upload over SFTP (atomically: temporary name, then rename): `amiko put [-r] [--resume] local [user@]host:remote`.
    Put {
        #[command(flatten)]
        args: transfer::TransferArgs,
        /// Local file or directory.
        local: String,
        /// [user@]host:path
        remote: String,
    },
    /// Run a command on many hosts at once: `amiko run -H web[01-20] --group -- uptime`.
    Run(run::RunArgs),
    /// Run amiko's SSH server.
    Serve(serve::ServeArgs),
    /// Start amiko's own server on loopback and walk through the tutorial against it.
    Demo,
}

fn init_logging(verbosity: u8) {
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Exec {
            ssh,
            destination,
            command,
        } => {
            init_logging(ssh.verbose);
            exec::run_exec(&ssh, &destination, &command.join(" "))
        }
        Command::Shell { ssh, destination } => {
            init_logging(ssh.verbose);
            exec::run_shell(&ssh, &destination)
        }
        Command::Config { ssh, destination } => match opts::resolve(&ssh, &destination) {
            Ok(r) => {
                print!("{}", r.describe());
                0
            }
            Err(e) => {
                eprintln!("amiko: {e}");
                255
            }
        },
        Command::Forward { ssh, destination } => {
            init_logging(ssh.verbose);
            exec::run_forward(&ssh, &destination)
        }
        Command::Get { args, remote, local } => {
            init_logging(args.ssh.verbose);
            transfer::run(&args, false, &remote, &local)
        }
        Command::Put { args, local, remote } => {
            init_logging(args.ssh.verbose);
            transfer::run(&args, true, &local, &remote)
        }
        Command::Run(args) => {
            init_logging(args.ssh.verbose);
            run::run(args)
        }
        Command::Serve(args) => {
            init_logging(args.verbose.max(1));
            serve::run(args)
        }
        Command::Demo => demo::run(),
    };
    std::process::exit(code);
}
