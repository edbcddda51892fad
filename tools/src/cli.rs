//! The command line: every subcommand, flag and its help text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Ostrom: pool AI model weights peer to peer. Publish a checkpoint as a signed manifest,
/// fetch it by id from every node that holds it, every byte verified.
#[derive(Debug, Parser)]
#[command(name = "ostrom", version, propagate_version = true)]
pub struct Cli {
    /// The node home: keys, config.toml, store [default: ~/.ostrom]
    #[arg(long, env = "OSTROM_HOME", global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a node home: node identity, publisher key, API token, config.toml.
    Init,
    /// Run and manage the node daemon.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Print the node's peer id and, while it runs, its listen addresses.
    Id(JsonFlag),
    /// Publish a file or directory as a signed checkpoint; prints its id last.
    Publish(PublishArgs),
    /// Fetch a checkpoint or a file by id, or a checkpoint by name, from the nodes that
    /// hold it.
    Fetch(FetchArgs),
    /// Write checkpoints this node holds into one offline bundle file: signed manifests,
    /// every chunk, the publisher keys and the records needed to check them.
    Export(ExportArgs),
    /// Import an offline bundle, with no network: every signature and every byte is
    /// checked before anything is added; then the node serves what it imported.
    Import(ImportArgs),
    /// List a model's checkpoints, newest first, following parents: ALIAS/MODEL[@TAG].
    Log(LogArgs),
    /// List the checkpoints this node knows.
    Ls(JsonFlag),
    /// The running node's peers (how many of each lab), DHT health, store usage and the
    /// fetches under way with their rates.
    Status(JsonFlag),
    /// The node's configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Bytes of blocks the running node sent to and received from each peer since it
    /// started, and the exchange streams it accepted and opened.
    Traffic(JsonFlag),
    /// Show one checkpoint (by checkpoint id or file id).
    Show(ShowArgs),
    /// Print this node's publisher public key (what other labs put in their trust
    /// store), rotate it, manage the lab's recovery key or revoke a key with it.
    Key(KeyArgs),
    /// Retract a checkpoint this node published: fetches of it then refuse (unless
    /// --allow-retracted) and always warn.
    Retract(RetractArgs),
    /// Manage the publishers whose manifests this node accepts.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Lab membership: vouch for this lab's other nodes, or join a lab.
    #[command(subcommand)]
    Lab(LabCommand),
    /// Create the key of a private, consortium-only network.
    #[command(subcommand)]
    NetworkKey(NetworkKeyCommand),
    /// Print the id of every file under PATH (the same hash `b3sum` prints) and check
    /// safetensors headers.
    Verify(VerifyArgs),
}

/// `ostrom node ...`
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Run the node in the foreground until SIGINT or SIGTERM, which stop it cleanly.
    ///
    /// When ready it prints `api URL`, `metrics URL` (when serving metrics), one `listen
    /// MULTIADDR` line per address and `ready` on stdout; logs go to stderr. Every flag
    /// overrides config.toml and OSTROM_* environment variables (`ostrom config show`).
    Run(RunArgs),
}

/// `ostrom config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every setting in force and where it came from: the default, a line of
    /// config.toml, an OSTROM_* environment variable or a flag. Asks the running node;
    /// when none runs, shows what `ostrom node run` would use in this environment.
    Show(JsonFlag),
}

/// `ostrom key [rotate|recovery|revoke]`
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub action: Option<KeyAction>,
    /// Print `{"publisher_key": ..., "recovery_key": ...}` (the recovery key is null when
    /// none is recorded).
    #[arg(long)]
    pub json: bool,
}

/// What to do with the publisher key.
#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Replace the publisher key with a new one, signing a rotation statement with the old
    /// key that nodes trusting the old key follow. The node must be stopped; it publishes
    /// the statement when it starts. The old key is kept as publisher.key.retired-<time>.
    Rotate,
    /// The lab's recovery key: print its public half, or make a new one.
    Recovery(RecoveryArgs),
    /// Revoke a publisher key of this lab with its recovery key: nodes whose trust entry
    /// names that recovery key refuse what KEY signed from --at on, stop following KEY's
    /// rotations, and trust --successor in its place. The node must be stopped; it
    /// publishes the statement when it starts.
    Revoke(RevokeArgs),
}

/// `ostrom key recovery [new FILE]`
#[derive(Debug, Args)]
pub struct RecoveryArgs {
    #[command(subcommand)]
    pub action: Option<RecoveryAction>,
}

/// What to do with the recovery key.
#[derive(Debug, Subcommand)]
pub enum RecoveryAction {
    /// Write a new recovery key seed to FILE (mode 0600) and print its public key, which
    /// labs trusting this one add with `ostrom trust add ALIAS KEY --recovery RKEY`. Keep
    /// FILE offline; the node keeps only the public key.
    New {
        /// Where to write the seed; an existing file is never overwritten.
        file: PathBuf,
    },
}

/// `ostrom key revoke`
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The recovery key seed file (`ostrom key recovery new`).
    #[arg(long)]
    pub recovery: PathBuf,
    /// The publisher key revoked, 64 hex digits.
    pub key: String,
    /// The key trusted in its place from --at on, 64 hex digits (e.g. the key this lab
    /// already rotated to).
    #[arg(long)]
    pub successor: Option<String>,
    /// From when, in milliseconds since the Unix epoch (default: now). Manifests and
    /// rotations can be dated by whoever holds the key, so give the time the key stopped
    /// being used or may have leaked; 0 disowns everything KEY signed.
    #[arg(long)]
    pub at: Option<u64>,
}

/// `ostrom retract`
#[derive(Debug, Args)]
pub struct RetractArgs {
    /// The checkpoint id.
    pub id: String,
    /// Why, shown to everyone who fetches it.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `ostrom lab ...`
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Vouch, with this node's publisher key, that PEER_ID is a node of this lab; prints the
    /// vouch for `ostrom lab join` on that node.
    Vouch {
        /// The other node's peer id (`ostrom id` there).
        peer_id: String,
        /// How many days the vouch lasts (at most 400).
        #[arg(long, default_value_t = 90)]
        days: u64,
    },
    /// Keep a vouch issued to this node (the hex text `ostrom lab vouch` printed).
    Join {
        /// The vouch.
        vouch: String,
    },
    /// List the vouches this node holds and presents.
    Ls(JsonFlag),
}

/// `ostrom network-key ...`
#[derive(Debug, Subcommand)]
pub enum NetworkKeyCommand {
    /// Write a new random network key to FILE (mode 0600); give the same file to every
    /// node of the network and set `network_key` in their config.toml.
    New {
        /// Where to write it; an existing file is never overwritten.
        file: PathBuf,
    },
}

/// `ostrom trust ...`
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust manifests signed by PUBKEY, calling the publisher ALIAS.
    Add {
        /// A short name: a-z, 0-9, '.', '_' or '-'.
        alias: String,
        /// The publisher's public key, 64 hex digits (`ostrom key` on their node).
        pubkey: String,
        /// The lab's recovery key, 64 hex digits (`ostrom key recovery` on their node):
        /// its revocations are then followed, and it can take the publisher's name back
        /// should the publisher key be stolen.
        #[arg(long)]
        recovery: Option<String>,
    },
    /// List the trusted publishers.
    Ls(JsonFlag),
    /// Stop trusting the publisher called ALIAS.
    Rm {
        /// The alias given to `ostrom trust add`.
        alias: String,
    },
}

/// `--json`
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `ostrom node run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Listen on this multiaddr (repeatable) [default: from config.toml]
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Join the network through this peer, a multiaddr ending in /p2p/PEER_ID
    /// (repeatable; added to config.toml's list).
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Loopback address of the control API [default: from config.toml]
    #[arg(long, value_name = "HOST:PORT")]
    pub api: Option<SocketAddr>,
    /// Most bytes per second served to all peers together, e.g. 50MiB [default: from
    /// config.toml, unlimited]
    #[arg(long, value_name = "RATE")]
    pub upload_limit: Option<String>,
    /// Most bytes per second fetched from all peers together, e.g. 200MiB [default: from
    /// config.toml, unlimited]
    #[arg(long, value_name = "RATE")]
    pub download_limit: Option<String>,
    /// Join a private network: connect only to nodes holding this key file (TCP only)
    /// [default: from config.toml]
    #[arg(long, value_name = "FILE")]
    pub network_key: Option<PathBuf>,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics [default: from config.toml,
    /// off]
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<String>,
    /// Log lines as `text` for people or `json` (one object a line) for log shippers
    /// [default: from config.toml, text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Which log lines, as a tracing filter such as `info` or `debug,libp2p=warn`; RUST_LOG
    /// overrides it [default: from config.toml, info,libp2p=warn]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Serve deliberately bad data, for testing other nodes: corrupt-blocks,
    /// forge-manifests, lie-have (claim every chunk, send none), stall (never answer
    /// block requests) or junk (answer chunk requests with floods of messages about ids
    /// never asked for).
    #[arg(long, value_name = "MODE", default_value = "none")]
    pub misbehave: String,
}

/// `ostrom publish`
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// A file or a directory (its files, recursively, make the checkpoint).
    pub path: PathBuf,
    /// Model name, e.g. gpt-small.
    #[arg(long)]
    pub name: String,
    /// Tag, e.g. step-12000.
    #[arg(long)]
    pub tag: Option<String>,
    /// Id of the checkpoint this one descends from.
    #[arg(long, value_name = "ID")]
    pub parent: Option<String>,
    /// Make the checkpoint readable only by nodes vouched for by these labs (aliases from
    /// `ostrom trust ls`, or keys), and by this node's own lab.
    #[arg(long, value_name = "ALIAS[,ALIAS...]", value_delimiter = ',')]
    pub restrict_to: Vec<String>,
    /// Metadata entry (repeatable), e.g. --meta license=apache-2.0.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// Follow symbolic links whose targets lie outside PATH (by default they are refused;
    /// a Hugging Face cache snapshot's links into its repository's blobs are always followed).
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Move --tag to this checkpoint even when it already names another one (by default
    /// such a publish is refused, so that a tag is not moved by mistake).
    #[arg(long)]
    pub force_tag: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `ostrom fetch`
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// A checkpoint id or a file id (64 hex digits), or a name: ALIAS/MODEL@latest or
    /// ALIAS/MODEL@TAG (ALIAS from `ostrom trust ls`, or `self`).
    pub id: String,
    /// Directory to write the files into, at their paths in the checkpoint [default:
    /// ./NAME, NAME being the last part of the model's name, or the id for a file fetched
    /// by id]. Files are staged in OUTDIR/.ostrom-partial/ and moved into place once
    /// verified; symbolic links under OUTDIR are never followed.
    #[arg(short = 'o', long = "out", value_name = "OUTDIR")]
    pub out: Option<PathBuf>,
    /// Replace files already in OUTDIR whose bytes differ from the checkpoint's (without
    /// it the fetch refuses, naming the file, and writes nothing).
    #[arg(long)]
    pub force: bool,
    /// How long the fetch may go without progress (no holder found, no new verified
    /// chunk) before it fails, e.g. 30s or 5m [default: from config.toml]
    #[arg(long)]
    pub timeout: Option<String>,
    /// Accept a manifest signed by a publisher not in this node's trust store (the signer
    /// is shown either way).
    #[arg(long)]
    pub allow_untrusted: bool,
    /// Fetch a checkpoint even if its publisher retracted it (a warning is shown).
    #[arg(long)]
    pub allow_retracted: bool,
    /// When no node runs on the home, the temporary fetching node joins the network
    /// through this peer too (repeatable; added to config.toml's bootstrap list).
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Fetch only the tensors whose names match this glob (repeatable; `*`, `?`, `[...]`,
    /// `{a,b}`), e.g. 'model.layers.1[0-9].*': each safetensors file is written as a valid
    /// safetensors file holding only its matching tensors (metadata kept), and only their
    /// chunks and the header are fetched. Such a subset file has an id of its own, which
    /// --json reports with the id of the file it came from. A file whose every tensor
    /// matches is fetched whole; a file with no matching tensor, and every file that is not
    /// safetensors, is skipped (and listed).
    #[arg(long, value_name = "PATTERN")]
    pub tensors: Vec<String>,
    /// With --tensors, also fetch the files that are not safetensors (config.json,
    /// tokenizer files, ...), whole.
    #[arg(long, requires = "tensors")]
    pub other_files: bool,
    /// Print JSON lines instead of text: `{"progress": {...}}` while it runs, then the
    /// result object, or on failure `{"error": "...", "kind": "..."}` (kind: a stable
    /// name such as no_holders, holders_exhausted, cancelled).
    #[arg(long)]
    pub json: bool,
}

/// `ostrom export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Checkpoint ids (64 hex digits) this node holds whole.
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// The bundle file to write; an existing file is never replaced.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: PathBuf,
    /// Leave out every chunk this checkpoint lists (repeatable): a fine-tune's bundle for
    /// nodes that already hold its parent. The importing node must hold them.
    #[arg(long, value_name = "PARENT_ID")]
    pub exclude_held_by: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `ostrom import`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The bundle file (`ostrom export`).
    pub file: PathBuf,
    /// Directory in which each checkpoint's files land, under a directory named by its id
    /// [default: HOME/imports]. Files are staged there and moved into place only once
    /// everything verified; `ostrom fetch ID -o DIR` then copies them elsewhere with no
    /// network.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Import manifests signed by a publisher not in this node's trust store.
    #[arg(long)]
    pub allow_untrusted: bool,
    /// Import checkpoints their publisher retracted.
    #[arg(long)]
    pub allow_retracted: bool,
    /// Replace files already at the output paths whose bytes differ.
    #[arg(long)]
    pub force: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `ostrom log`
#[derive(Debug, Args)]
pub struct LogArgs {
    /// ALIAS/MODEL, or ALIAS/MODEL@TAG to start from a tag.
    pub reference: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `ostrom show`
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A checkpoint id or a file id.
    pub id: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `ostrom verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A file or a directory.
    pub path: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
