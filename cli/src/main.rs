//! `prozess`: the command line of the prozess Kafka client (kcat and the
//! kafka-*.sh scripts in one binary).

mod admin_cmds;
mod client;
mod consume;
mod format;
mod groups;
mod offset;
mod output;
mod produce;
mod progress;
mod props;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// A failure: `usage` ones exit with 2, the others with 1.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub code: u8,
    /// The message for stderr.
    pub message: String,
}

impl CliError {
    /// A runtime failure (exit 1): `what` names what failed.
    pub fn runtime(what: impl std::fmt::Display, err: impl std::fmt::Display) -> Self {
        CliError {
            code: 1,
            message: format!("{what}: {err}"),
        }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }
}

/// The result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Bootstrap servers, host:port[,host:port...].
    #[arg(
        short = 'b',
        long = "bootstrap",
        env = "PROZESS_BOOTSTRAP",
        global = true
    )]
    pub bootstrap: Option<String>,
    /// A client property, key=value (repeatable; applied after -F).
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true, value_parser = props::parse_kv)]
    pub props: Vec<(String, String)>,
    /// A Java properties file with client properties.
    #[arg(short = 'F', value_name = "FILE", global = true)]
    pub file: Option<std::path::PathBuf>,
    /// JSON output for read commands.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Parser, Debug)]
#[command(
    name = "prozess",
    version,
    about = "A Kafka command line: produce, consume, topics, configs, groups"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Produces lines of stdin (or of files) as records.
    Produce(produce::ProduceArgs),
    /// Prints the records of a topic.
    Consume(consume::ConsumeArgs),
    /// Lists, describes, creates and deletes topics.
    #[command(subcommand)]
    Topics(admin_cmds::TopicsCmd),
    /// Describes and changes topic, broker and group configs.
    #[command(subcommand)]
    Configs(admin_cmds::ConfigsCmd),
    /// Consumer groups: list, describe (lag), reset offsets, delete.
    #[command(subcommand)]
    Groups(groups::GroupsCmd),
    /// The cluster.
    #[command(subcommand)]
    Cluster(admin_cmds::ClusterCmd),
    /// Brokers, topics and partitions (like kcat -L).
    Metadata(admin_cmds::MetadataArgs),
}

fn run(cli: Cli) -> CliResult {
    let ctx = client::Ctx::new(&cli.global)?;
    match cli.command {
        Command::Produce(a) => produce::run(&ctx, a),
        Command::Consume(a) => consume::run(&ctx, a),
        Command::Topics(c) => admin_cmds::topics(&ctx, c),
        Command::Configs(c) => admin_cmds::configs(&ctx, c),
        Command::Groups(c) => groups::run(&ctx, c),
        Command::Cluster(c) => admin_cmds::cluster(&ctx, c),
        Command::Metadata(a) => admin_cmds::metadata(&ctx, a),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prozess: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
