//! The caps and deadlines the node holds its peers to, in one place: the `[limits]` table
//! of `config.toml`. Every field's default is the reference choice that SPEC §10 lists;
//! an operator may raise or lower any of them. Caps that are part of the protocol itself
//! (frame sizes, ids per message, record sizes) are not here but in
//! `ostrom_protocol::limits`, since every node must agree on them.

use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// The `[limits]` table: what peers may make this node hold, and how long it waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most connections with one peer at once, both directions together.
    pub connections_per_peer: u32,
    /// Most connections at once, all peers together.
    pub connections: u32,
    /// Most incoming connections still in their handshake at once.
    pub pending_connections: u32,
    /// While the node's own memory is above this, new connections are refused.
    pub connection_memory: ByteSize,
    /// Most exchange streams one peer may hold open to this node at once.
    pub exchange_streams_per_peer: usize,
    /// Most exchange streams all peers together may hold open to this node at once.
    pub exchange_streams: usize,
    /// Most peers' provider records kept, all peers together (this node's own apart).
    pub provider_records: usize,
    /// Most provider records kept from one peer.
    pub provider_records_per_peer: usize,
    /// Most providers kept for one checkpoint or file.
    pub providers_per_key: usize,
    /// Most addresses kept with a peer's provider record; further ones are dropped.
    pub provider_addresses: usize,
    /// Most signed records (names, retractions, rotations, revocations) kept for peers.
    pub records: usize,
    /// Most bytes of signed records kept for peers, all together.
    pub record_bytes: ByteSize,
    /// Most signed records kept for peers that one key signed.
    pub records_per_signer: usize,
    /// Longest a frame may take to arrive from its first byte (plus 1 s per 256 KiB).
    #[serde(with = "crate::config::humantime_serde_compat")]
    pub frame_timeout: Duration,
    /// Longest a served stream may go without a request before it is closed.
    #[serde(with = "crate::config::humantime_serde_compat")]
    pub stream_idle_timeout: Duration,
    /// Most chunk ids a served stream remembers a peer wants.
    pub wantlist_ids: usize,
    /// Most block requests a served stream keeps waiting to be read and sent.
    pub waiting_block_ids: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections_per_peer: 8,
            connections: 1024,
            pending_connections: 128,
            connection_memory: ByteSize::gib(2),
            exchange_streams_per_peer: 64,
            exchange_streams: 1024,
            provider_records: 65_536,
            provider_records_per_peer: 4096,
            providers_per_key: 64,
            provider_addresses: 8,
            records: 65_536,
            record_bytes: ByteSize::mib(64),
            records_per_signer: 1024,
            frame_timeout: Duration::from_secs(30),
            stream_idle_timeout: Duration::from_secs(120),
            wantlist_ids: 1 << 20,
            waiting_block_ids: 4096,
        }
    }
}

impl Limits {
    /// Why these limits cannot run a node, if they cannot: every cap must let at least
    /// one of its kind through, and every wait must be longer than nothing.
    pub fn check(&self) -> Result<(), String> {
        let counts: [(&str, usize); 14] = [
            ("connections_per_peer", self.connections_per_peer as usize),
            ("connections", self.connections as usize),
            ("pending_connections", self.pending_connections as usize),
            ("exchange_streams_per_peer", self.exchange_streams_per_peer),
            ("exchange_streams", self.exchange_streams),
            ("provider_records", self.provider_records),
            ("provider_records_per_peer", self.provider_records_per_peer),
            ("providers_per_key", self.providers_per_key),
            ("provider_addresses", self.provider_addresses),
            ("records", self.records),
            ("records_per_signer", self.records_per_signer),
            ("wantlist_ids", self.wantlist_ids),
            ("waiting_block_ids", self.waiting_block_ids),
            ("record_bytes", usize::from(self.record_bytes.0 > 0)),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, value)| *value == 0) {
            return Err(format!("limits.{name} must be at least 1"));
        }
        if self.connection_memory.0 == 0 {
            return Err("limits.connection_memory must be more than 0".to_owned());
        }
        if self.frame_timeout.is_zero() || self.stream_idle_timeout.is_zero() {
            return Err(
                "limits.frame_timeout and limits.stream_idle_timeout must be more than 0s"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// The commented `[limits]` table that `ostrom init` writes, every line a default.
    pub fn default_table_text() -> String {
        let d = Self::default();
        let time = |t: Duration| humantime::format_duration(t).to_string();
        let size = |s: ByteSize| s.display().iec().to_string().replace(' ', "");
        format!(
            "# What peers may make this node hold, and how long it waits for them. Every\n\
             # line is the default; uncomment one to change it. Keep this table last:\n\
             # every line after [limits] belongs to it.\n\
             [limits]\n\
             # Connections with one peer / all peers / still in their handshake at once.\n\
             # connections_per_peer = {}\n\
             # connections = {}\n\
             # pending_connections = {}\n\
             # New connections are refused while the node's memory is above this.\n\
             # connection_memory = \"{}\"\n\
             # Exchange streams one peer / all peers may hold open to this node.\n\
             # exchange_streams_per_peer = {}\n\
             # exchange_streams = {}\n\
             # Peers' provider records kept: all peers, one peer, one checkpoint or file;\n\
             # addresses kept with each.\n\
             # provider_records = {}\n\
             # provider_records_per_peer = {}\n\
             # providers_per_key = {}\n\
             # provider_addresses = {}\n\
             # Signed records (names, retractions, rotations, revocations) kept for peers:\n\
             # how many, how many bytes, how many signed by one key.\n\
             # records = {}\n\
             # record_bytes = \"{}\"\n\
             # records_per_signer = {}\n\
             # A frame must arrive within this of its first byte (plus 1s per 256 KiB);\n\
             # a served stream with no request for this long is closed.\n\
             # frame_timeout = \"{}\"\n\
             # stream_idle_timeout = \"{}\"\n\
             # Chunk ids a served stream remembers a peer wants, and block requests it\n\
             # keeps waiting.\n\
             # wantlist_ids = {}\n\
             # waiting_block_ids = {}\n",
            d.connections_per_peer,
            d.connections,
            d.pending_connections,
            size(d.connection_memory),
            d.exchange_streams_per_peer,
            d.exchange_streams,
            d.provider_records,
            d.provider_records_per_peer,
            d.providers_per_key,
            d.provider_addresses,
            d.records,
            size(d.record_bytes),
            d.records_per_signer,
            time(d.frame_timeout),
            time(d.stream_idle_timeout),
            d.wantlist_ids,
            d.waiting_block_ids,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The written table, uncommented, parses back to the defaults: every documented
    /// default is the one in force.
    #[test]
    fn written_defaults_are_the_defaults() {
        let text: String = Limits::default_table_text()
            .lines()
            .filter(|l| l.starts_with("# ") && l.contains(" = "))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        let parsed: Limits = toml::from_str(&text).expect("parses");
        assert_eq!(parsed, Limits::default());
        assert_eq!(text.lines().count(), 17, "every field is written");
    }

    #[test]
    fn sizes_and_times_parse() {
        let limits: Limits =
            toml::from_str("record_bytes = \"1 MiB\"\nframe_timeout = \"5s\"\nconnections = 10")
                .expect("parses");
        assert_eq!(limits.record_bytes, ByteSize::mib(1));
        assert_eq!(limits.frame_timeout, Duration::from_secs(5));
        assert_eq!(limits.connections, 10);
        assert_eq!(limits.exchange_streams, Limits::default().exchange_streams);
    }

    #[test]
    fn zero_caps_are_refused() {
        let limits: Limits = toml::from_str("exchange_streams_per_peer = 0").expect("parses");
        let error = limits.check().expect_err("refused");
        assert!(error.contains("exchange_streams_per_peer"), "{error}");
        assert!(Limits::default().check().is_ok());
        assert!(toml::from_str::<Limits>("conections = 3").is_err());
    }
}
