//! The router: hands what admitted peers send to the component that owns it.
//!
//! One task reads the swarm's bounded inbound queue and spawns a task per item, so a slow
//! Raft call never holds up gossip validation. An `/ossa/raft/1` stream is served by its own
//! task until it ends ([`crate::raft_glue::serve_stream`]), its answers written straight to the
//! stream; gossip messages go to the component of their topic (agents, certifications, trust
//! scores or witness), whose verdict (accept, ignore, reject) is reported to gossipsub before
//! the message is forwarded; `/ossa/sync/1` requests go to the agent directory (records or
//! certifications), or to the audit log for a consistency proof. The disconnection of an
//! admitted peer goes to [`crate::leader_loss`], which stands for election if the peer was the
//! Raft leader.

use std::sync::Arc;

use libp2p::gossipsub::MessageAcceptance;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::daemon::NodeContext;
use crate::swarm::{Inbound, InboundGossip, InboundSync};

/// Routes inbound items until the swarm stops.
pub async fn run_router(node: Arc<NodeContext>, mut inbound: mpsc::Receiver<Inbound>) {
    while let Some(item) = inbound.recv().await {
        let node = node.clone();
        let span = match &item {
            // A stream can live as long as its connection: each of its requests gets a span of
            // its own instead (`raft_glue::serve_stream`).
            Inbound::RaftStream(_) => tracing::Span::none(),
            Inbound::Sync(sync) => tracing::info_span!("sync_request", peer = %sync.from.org),
            Inbound::Gossip(gossip) => tracing::info_span!("gossip", topic = %gossip.topic),
            Inbound::Disconnected(peer) => tracing::info_span!("disconnected", %peer),
        };
        let handled = async move {
            match item {
                Inbound::RaftStream(stream) => crate::raft_glue::serve_stream(&node, stream).await,
                Inbound::Sync(InboundSync { from, request, channel }) => {
                    let response = match &request.consistency {
                        Some(proof) => crate::witness::serve_consistency(&node, proof).await,
                        None => {
                            tracing::debug!(peer = %from.peer_id, "serving directory sync");
                            crate::agents::sync::serve(node.agents.directory(), &request)
                        }
                    };
                    node.net.respond_sync(channel, response).await;
                }
                Inbound::Gossip(InboundGossip { source, message_id, topic, data }) => {
                    let acceptance = if topic == node.agents.topic() {
                        node.agents.on_gossip(&node, source, &data)
                    } else if topic == node.agents.certifications_topic() {
                        node.agents.on_certification_gossip(&node, source, &data)
                    } else if topic == node.trust.topic() {
                        node.trust.on_gossip(&node, source, &data)
                    } else if topic == node.witness.topic() {
                        node.witness.on_gossip(&node, source, &data).await
                    } else {
                        tracing::debug!(%topic, %source, "gossip on an unknown topic");
                        MessageAcceptance::Ignore
                    };
                    node.net.validate(message_id, source, acceptance).await;
                }
                Inbound::Disconnected(peer) => crate::leader_loss::on_disconnected(&node, &peer).await,
            }
        };
        tokio::spawn(handled.instrument(span));
    }
}
