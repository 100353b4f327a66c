//! The task that owns the swarm: runs admission and publishes who is admitted, moves sync
//! requests and answers and gossip, enforces bans, feeds discovery with what identify reports
//! of admitted peers and dials the peers it finds. It also starts the acceptor of inbound
//! `/ossa/raft/1` streams, which runs beside it (`raft_streams`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::core::upgrade;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, PublishError};
use libp2p::request_response::{self, Message, OutboundRequestId};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, identity, noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot, watch};

use super::behaviour::{Behaviour, BehaviourEvent};
use super::raft_streams::{Acceptor, AdmittedPeers, StreamPool};
use super::{
    Command, Inbound, InboundGossip, InboundSync, NetError, NetworkClient, NetworkView, COMMAND_QUEUE, INBOUND_QUEUE,
};
use crate::admission::{Admission, AdmittedPeer};
use crate::metrics::Metrics;
use crate::wire::{pb, RAFT_PROTOCOL};

/// How often the loop checks admission deadlines, bans and bootstrap connectivity.
const TICK: Duration = Duration::from_secs(1);
/// Idle connections are kept this long; Raft heartbeats keep members' connections busy.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);
/// How often routing-table peers that are not connected are dialed: often enough that a node
/// found by a bootstrap is connected within seconds, rarely enough that a node that is down
/// costs one failed dial per peer every few seconds.
const DISCOVERY_ROUND: Duration = Duration::from_secs(5);
/// Most discovery dials per round, so a large routing table is connected over a few rounds
/// rather than in one burst of handshakes.
const MAX_DISCOVERY_DIALS: usize = 32;

/// What the swarm needs to start.
pub struct SwarmSettings {
    /// The node's libp2p identity.
    pub keypair: identity::Keypair,
    /// Address to listen on.
    pub listen: Multiaddr,
    /// Addresses dialed while the node has no admitted peer.
    pub bootstrap: Vec<Multiaddr>,
    /// DER of this node's org certificate, presented to peers.
    pub cert_der: Vec<u8>,
    /// The admission check for peers.
    pub admission: Admission,
    /// Time a peer has to complete admission.
    pub admission_timeout: Duration,
    /// Time a refused peer stays banned.
    pub ban: Duration,
    /// Gossip topics to subscribe to.
    pub topics: Vec<String>,
}

type SyncReply = oneshot::Sender<Result<pb::SyncResponse, NetError>>;

/// What waits for a peer to be dialed and admitted.
enum Queued {
    /// A caller about to open a raft stream to the peer.
    Connect(oneshot::Sender<Result<(), NetError>>),
    Sync(pb::SyncRequest, SyncReply),
}

impl Queued {
    fn is_closed(&self) -> bool {
        match self {
            Self::Connect(reply) => reply.is_closed(),
            Self::Sync(_, reply) => reply.is_closed(),
        }
    }

    fn fail(self, error: NetError) {
        // The asker may have given up; then nobody waits for the error.
        match self {
            Self::Connect(reply) => drop(reply.send(Err(error))),
            Self::Sync(_, reply) => drop(reply.send(Err(error))),
        }
    }
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    inbound: mpsc::Sender<Inbound>,
    settings: SwarmSettings,
    metrics: Arc<Metrics>,
    admitted: AdmittedPeers,
    /// Where the admitted peers that are not cut off are published for the raft streams.
    admitted_view: watch::Sender<AdmittedPeers>,
    /// Outbound raft streams, emptied of a peer's when its last connection closes.
    raft_streams: StreamPool,
    /// Connected peers that have not completed admission, with their deadline.
    unadmitted: HashMap<PeerId, Instant>,
    banned: HashMap<PeerId, Instant>,
    /// Requests waiting for their peer to be connected and admitted.
    queued: HashMap<PeerId, Vec<Queued>>,
    pending_sync: HashMap<OutboundRequestId, SyncReply>,
    listen_addrs: Vec<Multiaddr>,
    /// Orgs revoked by governance: refused at admission, disconnected when revoked.
    revoked: HashSet<String>,
    /// The nodes of revoked orgs: never dialed.
    revoked_peers: HashSet<PeerId>,
    /// When routing-table peers were last dialed.
    last_discovery_round: Instant,
    /// Peers that refused this node because its own org was revoked.
    told_revoked: Arc<Mutex<HashSet<PeerId>>>,
    /// Keys their orgs rotated away from, past the grace period: refused at admission,
    /// disconnected when retired.
    retired: HashSet<PeerId>,
    /// Peers cut off by fault injection (a simulated partition; testnets only).
    blocked: HashSet<PeerId>,
    /// Refused peers to disconnect once the admission answer telling them why is sent.
    closing_after_answer: HashSet<PeerId>,
    /// Admissions so far, re-admissions included (see [`NetworkView::admissions`]).
    admissions: u64,
}

/// Builds the swarm, starts listening and spawns its loop. Returns the client and the stream
/// of inbound requests of admitted peers.
pub fn spawn(
    settings: SwarmSettings,
    metrics: Arc<Metrics>,
) -> Result<(NetworkClient, mpsc::Receiver<Inbound>), Box<dyn std::error::Error + Send + Sync>> {
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(settings.keypair.clone())
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)?
        .with_dns()?
        .with_behaviour(Behaviour::new)?
        // Every peer is an OSSA node, so a substream's first message goes with its protocol name
        // (`V1Lazy`), not after the listener echoes it: one round trip less per Raft RPC.
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT)
                .with_substream_upgrade_protocol_override(upgrade::Version::V1Lazy)
        })
        .build();
    swarm.listen_on(settings.listen.clone())?;
    for topic in &settings.topics {
        super::behaviour::subscribe(&mut swarm.behaviour_mut().gossipsub, topic)?;
    }
    let (command_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let told_revoked = Arc::new(Mutex::new(HashSet::new()));
    let (inbound, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
    let (admitted_view, admitted) = watch::channel(AdmittedPeers::new());
    let mut control = swarm.behaviour().raft_streams.new_control();
    let incoming = control.accept(RAFT_PROTOCOL)?;
    let raft_streams = StreamPool::new(control);
    let acceptor = Acceptor {
        admitted: admitted.clone(),
        inbound: inbound.clone(),
        metrics: metrics.clone(),
        admission_timeout: settings.admission_timeout,
        served: Default::default(),
    };
    tokio::spawn(acceptor.run(incoming));
    let event_loop = EventLoop {
        swarm,
        commands,
        inbound,
        settings,
        metrics,
        admitted: AdmittedPeers::new(),
        admitted_view,
        raft_streams: raft_streams.clone(),
        unadmitted: HashMap::new(),
        banned: HashMap::new(),
        queued: HashMap::new(),
        pending_sync: HashMap::new(),
        listen_addrs: Vec::new(),
        revoked: HashSet::new(),
        revoked_peers: HashSet::new(),
        last_discovery_round: Instant::now(),
        told_revoked: told_revoked.clone(),
        retired: HashSet::new(),
        blocked: HashSet::new(),
        closing_after_answer: HashSet::new(),
        admissions: 0,
    };
    tokio::spawn(event_loop.run());
    Ok((NetworkClient { commands: command_tx, told_revoked, admitted, raft_streams }, inbound_rx))
}

impl EventLoop {
    async fn run(mut self) {
        self.dial_bootstrap();
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => return,
                },
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    fn dial_bootstrap(&mut self) {
        for addr in self.settings.bootstrap.clone() {
            if let Err(err) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, %err, "cannot dial bootstrap address");
            }
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        self.banned.retain(|_, until| *until > now);
        let expired: Vec<PeerId> =
            self.unadmitted.iter().filter(|(_, deadline)| **deadline <= now).map(|(p, _)| *p).collect();
        for peer in expired {
            tracing::warn!(%peer, "peer did not complete admission in time");
            self.refuse(peer, "admission_timeout");
        }
        for requests in self.queued.values_mut() {
            requests.retain(|queued| !queued.is_closed());
        }
        self.queued.retain(|_, requests| !requests.is_empty());
        self.refresh_undialable();
        if self.admitted.is_empty() {
            self.dial_bootstrap();
        }
        if now.duration_since(self.last_discovery_round) >= DISCOVERY_ROUND {
            self.last_discovery_round = now;
            self.dial_known_peers();
        }
    }

    /// Dials routing-table peers that are not connected (up to [`MAX_DISCOVERY_DIALS`]);
    /// admission runs on these connections as on any other. Undialable peers are refused by
    /// the discovery behaviour itself.
    fn dial_known_peers(&mut self) {
        let known = self.swarm.behaviour_mut().discovery.known_peers();
        self.metrics.discovery_table_peers.set(known.len() as i64);
        let unconnected: Vec<_> =
            known.into_iter().filter(|(peer, _)| !self.swarm.is_connected(peer)).take(MAX_DISCOVERY_DIALS).collect();
        for (peer, addrs) in unconnected {
            let opts =
                DialOpts::peer_id(peer).condition(PeerCondition::DisconnectedAndNotDialing).addresses(addrs).build();
            match self.swarm.dial(opts) {
                Ok(()) => {
                    self.metrics.discovery_dials.inc();
                }
                Err(err) => tracing::debug!(%peer, %err, "not dialing a routing-table peer"),
            }
        }
    }

    /// Hands discovery the peers no connection may be dialed to: banned, cut off by fault
    /// injection, nodes of revoked orgs, or retired keys.
    fn refresh_undialable(&mut self) {
        let undialable = self
            .banned
            .keys()
            .chain(&self.blocked)
            .chain(&self.revoked_peers)
            .chain(&self.retired)
            .copied()
            .collect::<HashSet<_>>();
        self.swarm.behaviour_mut().discovery.set_undialable(undialable);
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Connect { peer, addrs, reply } => {
                self.send_when_admitted(peer, addrs, Queued::Connect(reply));
            }
            Command::Publish { topic, data, reply } => {
                let result = match self.swarm.behaviour_mut().gossipsub.publish(IdentTopic::new(topic), data) {
                    Ok(_) | Err(PublishError::NoPeersSubscribedToTopic) | Err(PublishError::Duplicate) => Ok(()),
                    Err(err) => Err(NetError::Publish(err.to_string())),
                };
                let _ = reply.send(result);
            }
            Command::Validate { message_id, source, acceptance } => {
                self.swarm.behaviour_mut().gossipsub.report_message_validation_result(&message_id, &source, acceptance);
            }
            Command::Sync { peer, addrs, request, reply } => {
                self.send_when_admitted(peer, addrs, Queued::Sync(request, reply));
            }
            Command::RespondSync { channel, response } => {
                let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
            }
            Command::SetBlocked { peers } => {
                for peer in peers.difference(&self.blocked).copied().collect::<Vec<_>>() {
                    tracing::warn!(%peer, "fault injection: cutting the link to this peer");
                    let _ = self.swarm.disconnect_peer_id(peer);
                    self.fail_queued(peer, "blocked by fault injection");
                }
                self.blocked = peers;
                self.refresh_undialable();
                self.publish_admitted();
            }
            Command::Disconnect { peer } => {
                tracing::warn!(%peer, "fault injection: closing the connections to this peer once");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::SetApplicationScores { scores } => {
                for (peer, score) in scores {
                    self.swarm.behaviour_mut().gossipsub.set_application_score(&peer, score);
                }
            }
            Command::SetRevoked { orgs, peers } => {
                let cut: Vec<PeerId> =
                    self.admitted.values().filter(|p| orgs.contains(&p.org)).map(|p| p.peer_id).collect();
                self.revoked = orgs;
                for peer in &peers {
                    self.swarm.behaviour_mut().discovery.refused(peer);
                }
                self.revoked_peers = peers;
                self.refresh_undialable();
                for peer in cut {
                    tracing::warn!(%peer, "disconnecting a revoked org's node");
                    self.refuse(peer, "revoked");
                }
            }
            Command::SetRetired { peers } => {
                for peer in peers.difference(&self.retired).copied().collect::<Vec<_>>() {
                    self.swarm.behaviour_mut().discovery.refused(&peer);
                    if self.admitted.contains_key(&peer) {
                        tracing::warn!(%peer, "disconnecting a node whose key was rotated away from");
                        self.refuse(peer, "key_retired");
                    }
                }
                self.retired = peers;
                self.refresh_undialable();
            }
            Command::View { reply } => {
                let view = NetworkView {
                    listen_addrs: self.listen_addrs.clone(),
                    admitted: self.admitted.values().cloned().collect(),
                    routing_table: self.swarm.behaviour_mut().discovery.table_len(),
                    admissions: self.admissions,
                };
                let _ = reply.send(view);
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.listen_addrs.push(address);
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                if self.banned.contains_key(&peer_id) || self.blocked.contains(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if self.admitted.contains_key(&peer_id) {
                    return;
                }
                let deadline = Instant::now() + self.settings.admission_timeout;
                self.unadmitted.entry(peer_id).or_insert(deadline);
                if endpoint.is_dialer() {
                    let request = pb::AdmissionRequest { cert_der: self.settings.cert_der.clone() };
                    self.swarm.behaviour_mut().admission.send_request(&peer_id, request);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                if self.admitted.remove(&peer_id).is_some() {
                    tracing::info!(%peer_id, "admitted peer disconnected");
                    if self.inbound.try_send(Inbound::Disconnected(peer_id)).is_err() {
                        tracing::warn!(%peer_id, "router busy; not telling it of the disconnection");
                    }
                }
                self.unadmitted.remove(&peer_id);
                self.closing_after_answer.remove(&peer_id);
                self.swarm.behaviour_mut().discovery.disconnected(&peer_id);
                self.metrics.admitted_peers.set(self.admitted.len() as i64);
                self.publish_admitted();
                self.raft_streams.forget(&peer_id);
                self.fail_queued(peer_id, "disconnected");
            }
            SwarmEvent::OutgoingConnectionError { peer_id: Some(peer), error, .. }
                if !self.swarm.is_connected(&peer) =>
            {
                self.fail_queued(peer, &error.to_string());
            }
            SwarmEvent::Behaviour(BehaviourEvent::Admission(event)) => self.on_admission(event),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }))
                if !self.banned.contains_key(&peer_id) && !self.blocked.contains(&peer_id) =>
            {
                self.swarm.behaviour_mut().discovery.identified(peer_id, info.listen_addrs);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Discovery(libp2p::kad::Event::RoutingUpdated {
                peer,
                is_new_peer: true,
                ..
            })) => {
                tracing::debug!(%peer, "peer added to the routing table");
            }
            _ => {}
        }
    }

    fn on_admission(&mut self, event: request_response::Event<pb::AdmissionRequest, pb::AdmissionResponse>) {
        match event {
            request_response::Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                let response = match self.check_admission(&peer, &request.cert_der) {
                    Ok(admitted) => {
                        self.admit(admitted);
                        pb::AdmissionResponse {
                            accepted: true,
                            cert_der: self.settings.cert_der.clone(),
                            reason: String::new(),
                            revoked: false,
                        }
                    }
                    Err((reason, message)) => {
                        tracing::warn!(%peer, refusal = %message, "refusing peer");
                        // Disconnected once the answer is out, so the peer learns why.
                        self.bar(peer, reason);
                        self.closing_after_answer.insert(peer);
                        let revoked = reason == "revoked";
                        pb::AdmissionResponse { accepted: false, cert_der: Vec::new(), reason: message, revoked }
                    }
                };
                let _ = self.swarm.behaviour_mut().admission.send_response(channel, response);
            }
            request_response::Event::Message { peer, message: Message::Response { response, .. }, .. } => {
                if !response.accepted {
                    tracing::warn!(%peer, reason = %response.reason, "peer refused our certificate");
                    if response.revoked {
                        self.told_revoked.lock().unwrap_or_else(|p| p.into_inner()).insert(peer);
                    }
                    self.metrics.refused("refused_by_peer");
                    self.fail_queued(peer, &format!("refused by the peer: {}", response.reason));
                    let _ = self.swarm.disconnect_peer_id(peer);
                    return;
                }
                match self.check_admission(&peer, &response.cert_der) {
                    Ok(admitted) => self.admit(admitted),
                    Err((reason, message)) => {
                        tracing::warn!(%peer, refusal = %message, "refusing peer");
                        self.refuse(peer, reason);
                    }
                }
            }
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "admission request failed");
            }
            request_response::Event::ResponseSent { peer, .. }
            | request_response::Event::InboundFailure { peer, .. } => {
                if self.closing_after_answer.remove(&peer) {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
            }
        }
    }

    fn on_sync(&mut self, event: request_response::Event<pb::SyncRequest, pb::SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                let Some(from) = self.admitted.get(&peer).cloned() else {
                    self.metrics.unadmitted_requests.inc();
                    return;
                };
                if self.inbound.try_send(Inbound::Sync(InboundSync { from, request, channel })).is_err() {
                    tracing::warn!(%peer, "router busy; dropping sync request");
                }
            }
            request_response::Event::Message { message: Message::Response { request_id, response }, .. } => {
                if let Some(reply) = self.pending_sync.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if let Some(reply) = self.pending_sync.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Failed(peer, error.to_string())));
                }
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message { propagation_source, message_id, message } = event else { return };
        if !self.admitted.contains_key(&propagation_source) {
            self.metrics.unadmitted_requests.inc();
            self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                &message_id,
                &propagation_source,
                MessageAcceptance::Reject,
            );
            return;
        }
        let gossip = InboundGossip {
            source: propagation_source,
            message_id: message_id.clone(),
            topic: message.topic.into_string(),
            data: message.data,
        };
        if self.inbound.try_send(Inbound::Gossip(gossip)).is_err() {
            tracing::warn!(peer = %propagation_source, "router busy; ignoring gossip message");
            self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                &message_id,
                &propagation_source,
                MessageAcceptance::Ignore,
            );
        }
    }

    /// The certificate check, then governance: a revoked org, or a key its org rotated away
    /// from, is refused whatever the certificate says. Errors are (metric reason, message for
    /// the peer and the log).
    fn check_admission(&self, peer: &PeerId, cert_der: &[u8]) -> Result<AdmittedPeer, (&'static str, String)> {
        let admitted = self.settings.admission.check(peer, cert_der).map_err(|r| (r.reason(), r.to_string()))?;
        if self.revoked.contains(&admitted.org) {
            return Err(("revoked", format!("org {:?} has been revoked by the federation", admitted.org)));
        }
        if self.retired.contains(peer) {
            let message = format!("org {:?} rotated its node key; the key of peer {peer} is retired", admitted.org);
            return Err(("key_retired", message));
        }
        Ok(admitted)
    }

    fn admit(&mut self, peer: AdmittedPeer) {
        let peer_id = peer.peer_id;
        self.unadmitted.remove(&peer_id);
        self.swarm.behaviour_mut().discovery.admitted(peer_id);
        if self.admitted.insert(peer_id, peer.clone()).is_none() {
            self.admissions += 1;
            tracing::info!(%peer_id, org = %peer.org, role = %peer.role, "peer admitted");
            self.metrics.admission_accepted.inc();
            self.metrics.admitted_peers.set(self.admitted.len() as i64);
            self.publish_admitted();
        }
        for queued in self.queued.remove(&peer_id).unwrap_or_default() {
            self.send(peer_id, queued);
        }
    }

    /// Sends `queued` to `peer` now if it is admitted, else dials it (at `addrs` if not
    /// connected) and sends once it is admitted.
    fn send_when_admitted(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, queued: Queued) {
        if self.blocked.contains(&peer) {
            return queued.fail(NetError::Unreachable(peer, "blocked by fault injection".into()));
        }
        if self.admitted.contains_key(&peer) {
            return self.send(peer, queued);
        }
        if self.banned.contains_key(&peer) {
            return queued.fail(NetError::Unreachable(peer, "peer is banned".into()));
        }
        self.queued.entry(peer).or_default().push(queued);
        if !self.swarm.is_connected(&peer) {
            let opts = DialOpts::peer_id(peer).addresses(addrs).build();
            match self.swarm.dial(opts) {
                // A dial to the peer is already under way: the queue is served when it
                // connects and is admitted, or failed when it does not.
                Ok(()) | Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => {}
                Err(err) => self.fail_queued(peer, &err.to_string()),
            }
        }
    }

    fn send(&mut self, peer: PeerId, queued: Queued) {
        match queued {
            Queued::Connect(reply) => {
                // The caller may have given up waiting.
                let _ = reply.send(Ok(()));
            }
            Queued::Sync(request, reply) => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending_sync.insert(id, reply);
            }
        }
    }

    /// Refuses `peer`: barred (see [`Self::bar`]) and disconnected now.
    fn refuse(&mut self, peer: PeerId, reason: &str) {
        self.bar(peer, reason);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    /// Counts the refusal, forgets the peer's admission, bans it for a while and fails what
    /// was queued for it. Nothing it sends is processed from now on.
    fn bar(&mut self, peer: PeerId, reason: &str) {
        self.metrics.refused(reason);
        self.unadmitted.remove(&peer);
        self.admitted.remove(&peer);
        self.publish_admitted();
        self.banned.insert(peer, Instant::now() + self.settings.ban);
        self.swarm.behaviour_mut().discovery.refused(&peer);
        self.refresh_undialable();
        self.fail_queued(peer, &format!("admission failed: {reason}"));
    }

    /// Publishes the admitted peers that are not cut off by fault injection: the raft streams
    /// serve and open streams only to these.
    fn publish_admitted(&self) {
        let reachable =
            self.admitted.iter().filter(|(peer, _)| !self.blocked.contains(peer)).map(|(p, a)| (*p, a.clone()));
        self.admitted_view.send_replace(reachable.collect());
    }

    fn fail_queued(&mut self, peer: PeerId, why: &str) {
        for queued in self.queued.remove(&peer).unwrap_or_default() {
            queued.fail(NetError::Unreachable(peer, why.to_owned()));
        }
    }
}
