//! Peer discovery: Kademlia (`/ossa/kad/1`, server mode) that only admitted peers take part in.
//!
//! ```text
//!  identify: listen addresses of a peer ──┐
//!  admission: the peer is admitted ───────┴─▶ Discovery::admitted / ::identified ─▶ routing table
//!  bootstrap (periodic, and while the table is small whenever it gains a peer)
//!     ─▶ FIND_NODE to admitted peers ─▶ kad dials the peers they name ─▶ admission runs on
//!        those connections as on any other ─▶ identify ─▶ routing table
//!  the event loop's discovery round ─▶ dials routing-table peers that are not connected
//! ```
//!
//! [`Discovery`] wraps `kad::Behaviour` and enforces admission around it:
//! - the routing table is filled only by the event loop, with the listen addresses identify
//!   reported of peers that passed admission (kad's own insertion of peers it meets is off),
//!   and a peer refused at admission leaves it;
//! - kad hears nothing from a connection before its peer is admitted: the handler's events
//!   (inbound FIND_NODE and record requests, answers to our queries) of an unadmitted peer
//!   are dropped, so an outsider learns nothing from the table and a query step through it
//!   simply times out;
//! - no record is ever stored (record filtering on, and the node asks for none);
//! - no connection is dialed, by kad or anyone else, to a peer the event loop marked
//!   undialable (banned, cut off by fault injection, or of a revoked org).

use std::collections::{HashMap, HashSet};
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::kad::{self, store::MemoryStore};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, StreamProtocol};

/// Kademlia protocol name: a private DHT of the federation, apart from any public one.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/ossa/kad/1");
/// Period of kad's bootstrap (a lookup of this node's own id, then a refresh of every bucket):
/// membership changes at the pace of governance, so every 30 s finds a new member's node
/// quickly at the cost of a few small requests.
const BOOTSTRAP_INTERVAL: Duration = Duration::from_secs(30);
/// Addresses kept per peer from one identify report: a node listens on a handful; more is
/// a peer padding its report.
const MAX_ADDRESSES_PER_PEER: usize = 8;

/// Kademlia restricted to admitted peers (see the module docs).
pub struct Discovery {
    kad: kad::Behaviour<MemoryStore>,
    /// Peers whose connection passed admission: kad hears their messages.
    admitted: HashSet<PeerId>,
    /// Listen addresses identify reported of connected peers not admitted yet.
    reported: HashMap<PeerId, Vec<Multiaddr>>,
    /// Peers no connection is dialed to.
    undialable: HashSet<PeerId>,
}

/// Why a dial was refused.
#[derive(Debug, thiserror::Error)]
#[error("peer {0} is banned, cut off or revoked; it is not dialed")]
struct Undialable(PeerId);

impl Discovery {
    /// Discovery for the node `local`.
    pub fn new(local: PeerId) -> Self {
        let mut config = kad::Config::new(KAD_PROTOCOL);
        config
            .set_kbucket_inserts(kad::BucketInserts::Manual)
            .set_record_filtering(kad::StoreInserts::FilterBoth)
            .set_periodic_bootstrap_interval(Some(BOOTSTRAP_INTERVAL));
        let mut kad = kad::Behaviour::with_config(local, MemoryStore::new(local), config);
        // Server mode: answer FIND_NODE (from admitted peers) although no external address
        // was confirmed, which is the normal case for nodes that only know their listen addresses.
        kad.set_mode(Some(kad::Mode::Server));
        Self { kad, admitted: HashSet::new(), reported: HashMap::new(), undialable: HashSet::new() }
    }

    /// Identify reported `addrs` as the listen addresses of the connected `peer`: once the
    /// peer is admitted they replace its addresses in the routing table.
    pub fn identified(&mut self, peer: PeerId, mut addrs: Vec<Multiaddr>) {
        addrs.truncate(MAX_ADDRESSES_PER_PEER);
        if self.admitted.contains(&peer) {
            self.replace_in_table(peer, addrs);
        } else {
            self.reported.insert(peer, addrs);
        }
    }

    /// `peer` passed admission on its connection.
    pub fn admitted(&mut self, peer: PeerId) {
        self.admitted.insert(peer);
        if let Some(addrs) = self.reported.remove(&peer) {
            self.replace_in_table(peer, addrs);
        }
    }

    /// `peer` has no connection left; it stays in the table, to be dialed again.
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.admitted.remove(peer);
        self.reported.remove(peer);
    }

    /// `peer` was refused (at admission or later): it leaves the table.
    pub fn refused(&mut self, peer: &PeerId) {
        self.disconnected(peer);
        self.kad.remove_peer(peer);
    }

    /// Replaces the set of peers that are never dialed.
    pub fn set_undialable(&mut self, peers: HashSet<PeerId>) {
        self.undialable = peers;
    }

    /// The peers of the routing table, with their addresses.
    pub fn known_peers(&mut self) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut peers = Vec::new();
        for bucket in self.kad.kbuckets() {
            for entry in bucket.iter() {
                peers.push((*entry.node.key.preimage(), entry.node.value.iter().cloned().collect()));
            }
        }
        peers
    }

    /// How many peers the routing table holds.
    pub fn table_len(&mut self) -> usize {
        self.kad.kbuckets().map(|bucket| bucket.num_entries()).sum()
    }

    /// The addresses the routing table holds for `peer` (each ending in `/p2p/<peer>`).
    fn table_addresses(&mut self, peer: &PeerId) -> Vec<Multiaddr> {
        let Some(bucket) = self.kad.kbucket(*peer) else { return Vec::new() };
        let entry = bucket.iter().find(|entry| entry.node.key.preimage() == peer);
        entry.map(|entry| entry.node.value.iter().cloned().collect()).unwrap_or_default()
    }

    /// Makes `addrs`, the latest report, the peer's addresses in the routing table, so a peer
    /// that keeps reporting new addresses does not grow its entry. The new addresses are added
    /// before the old ones are removed: kad drops a peer whose last address is removed.
    fn replace_in_table(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let old = self.table_addresses(&peer);
        // kad stores each address with the peer's id appended; compare them in that form.
        let new: HashSet<Multiaddr> = addrs.into_iter().filter_map(|addr| addr.with_p2p(peer).ok()).collect();
        for addr in &new {
            self.kad.add_address(&peer, addr.clone());
        }
        for addr in old.iter().filter(|addr| !new.contains(*addr)) {
            self.kad.remove_address(&peer, addr);
        }
    }
}

impl NetworkBehaviour for Discovery {
    type ConnectionHandler = <kad::Behaviour<MemoryStore> as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = kad::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.kad.handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.kad.handle_established_inbound_connection(connection_id, peer, local_addr, remote_addr)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let Some(peer) = maybe_peer.filter(|peer| self.undialable.contains(peer)) {
            return Err(ConnectionDenied::new(Undialable(peer)));
        }
        self.kad.handle_pending_outbound_connection(connection_id, maybe_peer, addresses, effective_role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.kad.handle_established_outbound_connection(connection_id, peer, addr, role_override, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.kad.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        if self.admitted.contains(&peer_id) {
            self.kad.on_connection_handler_event(peer_id, connection_id, event);
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.kad.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("address")
    }

    #[test]
    fn only_admitted_peers_enter_the_routing_table() {
        let mut discovery = Discovery::new(PeerId::random());
        let (outsider, member) = (PeerId::random(), PeerId::random());
        discovery.identified(outsider, vec![addr(1)]);
        discovery.identified(member, vec![addr(2)]);
        assert!(discovery.known_peers().is_empty(), "nobody is admitted yet");

        discovery.admitted(member);
        let known = discovery.known_peers();
        assert_eq!(known.len(), 1);
        assert_eq!(known[0].0, member);
        assert_eq!(known[0].1, vec![addr(2).with_p2p(member).expect("p2p")]);

        // The outsider disconnects without passing admission: its report is forgotten.
        discovery.disconnected(&outsider);
        discovery.admitted(outsider);
        assert_eq!(discovery.known_peers().len(), 1, "a report from an earlier connection does not count");

        discovery.refused(&member);
        assert!(discovery.known_peers().is_empty(), "a refused peer leaves the table");
    }

    #[test]
    fn identify_reports_are_capped() {
        let mut discovery = Discovery::new(PeerId::random());
        let peer = PeerId::random();
        discovery.admitted(peer);
        discovery.identified(peer, (1..=100).map(addr).collect());
        assert_eq!(discovery.known_peers()[0].1.len(), MAX_ADDRESSES_PER_PEER);
    }

    #[test]
    fn the_latest_identify_report_replaces_the_earlier_one() {
        let mut discovery = Discovery::new(PeerId::random());
        let peer = PeerId::random();
        discovery.admitted(peer);
        discovery.identified(peer, vec![addr(1), addr(2)]);
        // No address in common: the old ones all go, and the peer stays.
        discovery.identified(peer, vec![addr(3), addr(4)]);
        let known = discovery.known_peers();
        assert_eq!(known.len(), 1);
        let mut addrs = known[0].1.clone();
        addrs.sort();
        let mut expected: Vec<Multiaddr> = [3, 4].map(|port| addr(port).with_p2p(peer).expect("p2p")).into();
        expected.sort();
        assert_eq!(addrs, expected, "only the second report's addresses are left");
        assert_eq!(discovery.table_len(), 1);
    }

    #[test]
    fn undialable_peers_are_refused_before_any_dial() {
        let mut discovery = Discovery::new(PeerId::random());
        let (banned, other) = (PeerId::random(), PeerId::random());
        discovery.set_undialable(HashSet::from([banned]));
        let dial = |d: &mut Discovery, peer| {
            d.handle_pending_outbound_connection(ConnectionId::new_unchecked(1), Some(peer), &[], Endpoint::Dialer)
        };
        assert!(dial(&mut discovery, banned).is_err());
        assert!(dial(&mut discovery, other).is_ok());
        assert!(discovery
            .handle_pending_outbound_connection(ConnectionId::new_unchecked(2), None, &[addr(3)], Endpoint::Dialer)
            .is_ok());
    }
}
