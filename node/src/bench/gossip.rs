//! `ossa bench gossip`: time for one signed agent record to reach 99% (and 100%) of N nodes.
//!
//! For each size N, [`measure`] builds N in-process nodes, each a libp2p swarm whose only
//! behaviour is the node's own gossipsub (built by the same function as the node's, so the
//! heartbeat, validation mode, `validate_messages`, size limit and peer scoring are the
//! node's), over libp2p's `MemoryTransport` upgraded with Noise and Yamux as the node's TCP
//! transport is. Node `i` dials [`DIALS`] distinct random earlier nodes (seeded), which gives
//! a connected graph. Every node subscribes to one agents topic; the benchmark waits until
//! every node is connected to all its neighbours and knows they subscribed, and the mesh links
//! (gossipsub's grafts, which hubs prune down to its degree) join every node.
//!
//! Then each trial (after two untimed ones) signs a fresh record (the node's [`sign_record`]) and has a random node
//! publish it. Every receiving node runs the node's gate, [`verify_record`] (size, decoding,
//! signature, signer is the org's node, tenant owned by the org, expiry, field limits),
//! against a registry that lists the signing org and its tenant, and reports the result to
//! gossipsub before the message is forwarded, as the node's router does; it then reports the
//! delivery with its time. The trial's figures are the times from the publish command to the
//! delivery that makes 99% of the N nodes hold the record (the publisher counts), and to the
//! last one. Left out, beside the network itself: admission (no certificates are exchanged;
//! the bench peers are simply connected) and storing the record in the directory.
//!
//! Each node runs in its own task on the command's runtime; the coordinator talks to them over
//! bounded channels, as the node talks to its swarm loop.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash};
use libp2p::swarm::{Swarm, SwarmEvent};
use libp2p::{identity, noise, yamux, Multiaddr, PeerId, Transport};
use ossa_consensus::{Member, MemberRole, Registry, Tenant};
use ossa_trust::NodeKey;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::{report, until_interrupted, BenchReport};
use crate::admission::peer_id_of_key;
use crate::agents::record::{sign_record, verify_record, RECORD_TTL_MS};
use crate::agents::service::agents_topic;
use crate::clock::now_ms;
use crate::swarm::{gossip_behaviour, subscribe};
use crate::wire::pb;

/// Earlier nodes each node dials: 3 gives every node at least 3 neighbours (except the first
/// few) and 6 on average, about gossipsub's mesh degree, so the mesh is made of the links
/// there are rather than of a full graph no federation has. The first nodes collect many
/// more, and prune their meshes down to gossipsub's degree.
const DIALS: usize = 3;
/// Untimed trials first, so that the timed ones run on connections and streams already in use.
const WARMUP_TRIALS: usize = 2;
/// Share of the nodes that must hold the record for the main figure.
const QUORUM: f64 = 0.99;
/// How long the nodes may take to connect and form their meshes.
const MESH_TIMEOUT: Duration = Duration::from_secs(300);
/// How often the mesh state is polled while waiting.
const MESH_POLL: Duration = Duration::from_millis(50);
/// A trial whose record has not reached 99% of the nodes this long after the publish failed
/// (the goals are below 1 s).
const TRIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// The benchmark must outlast gossipsub's own idea of an idle connection (connections outside
/// the mesh carry no traffic between trials); the node uses 120 s, a 1000-node run takes longer.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);
/// Commands waiting for a node's task: the coordinator sends at most one at a time.
const NODE_COMMANDS: usize = 4;
/// Federation name of the bench's topic.
const FEDERATION: &str = "bench";
/// Org and tenant of the published records.
const ORG: &str = "bench-org";
const TENANT: &str = "bench-tenant";

/// Options of `ossa bench gossip`.
#[derive(Debug, Clone)]
pub struct GossipOptions {
    /// Network sizes to measure.
    pub nodes: Vec<usize>,
    /// Records published per size.
    pub trials: usize,
    /// Seed of the topology and of the choice of publishers.
    pub seed: u64,
}

/// What the trials of one size measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Time to 99% of the nodes, of each trial that got there.
    pub to_quorum: Vec<Duration>,
    /// Time to every node, of each trial that got there.
    pub to_all: Vec<Duration>,
    /// Nodes that held the record (the publisher included) at the end of each timed trial.
    pub delivered: Vec<usize>,
    /// Time the trials took.
    pub elapsed: Duration,
}

/// `ossa bench gossip`: per size, the reports `gossip` (time to 99%) and `gossip-all` (time to
/// every node).
pub async fn gossip(options: GossipOptions) -> anyhow::Result<Vec<BenchReport>> {
    until_interrupted(run(options)).await
}

async fn run(options: GossipOptions) -> anyhow::Result<Vec<BenchReport>> {
    if options.trials == 0 {
        bail!("--trials must be at least 1");
    }
    let mut reports = Vec::new();
    for &nodes in &options.nodes {
        if nodes < 2 {
            bail!("--nodes: a size must be at least 2, got {nodes}");
        }
        eprintln!("gossip: {nodes} nodes: connecting and forming meshes ...");
        let measured = measure(nodes, options.trials, options.seed).await?;
        let failed = (options.trials - measured.to_quorum.len()) as u64;
        let setup = format!(
            "{nodes} in-process nodes on MemoryTransport (Noise + Yamux), each dialing {DIALS} random earlier ones \
             (seed {}); the node's gossipsub; every receiver verifies the signed record before forwarding",
            options.seed
        );
        let mut quorum = report(
            "gossip",
            format!("{setup}; time to {} of {nodes} nodes", quorum_of(nodes)),
            goal(nodes),
            measured.to_quorum,
            measured.elapsed,
        );
        let mut all = report(
            "gossip-all",
            format!("{setup}; time to all {nodes} nodes"),
            "none (the goals are for 99%)",
            measured.to_all,
            measured.elapsed,
        );
        for report in [&mut quorum, &mut all] {
            report.nodes = Some(nodes);
            report.trials = Some(options.trials);
        }
        quorum.errors = Some(failed);
        all.errors = Some((options.trials - all.operations) as u64);
        reports.extend([quorum, all]);
    }
    Ok(reports)
}

fn goal(nodes: usize) -> &'static str {
    match nodes {
        ..=100 => "< 100 ms to 99% of 100 nodes",
        _ => "< 500 ms to 99% of 1000 nodes",
    }
}

/// Nodes that make 99% of `nodes` (rounded up).
fn quorum_of(nodes: usize) -> usize {
    ((nodes as f64) * QUORUM).ceil() as usize
}

/// A command to a node's task.
enum NodeCommand {
    Publish { data: Vec<u8>, reply: oneshot::Sender<Result<(), gossipsub::PublishError>> },
    Mesh { reply: oneshot::Sender<MeshState> },
}

/// What a node knows of its neighbours on the topic.
#[derive(Debug, Clone)]
struct MeshState {
    connected: usize,
    subscribed: usize,
    mesh: Vec<PeerId>,
}

/// A node that validated a record.
#[derive(Debug, Clone, Copy)]
struct Delivery {
    node: usize,
    sequence: u64,
    at: Instant,
}

/// Builds a `nodes`-node network, waits for its meshes, runs [`WARMUP_TRIALS`] and then
/// `trials` timed trials, and stops it.
pub async fn measure(nodes: usize, trials: usize, seed: u64) -> anyhow::Result<Measured> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let signer = NodeKey::generate();
    let registry = registry_of(&signer)?;
    let topic_name = agents_topic(FEDERATION);
    let topic = IdentTopic::new(topic_name.clone());
    let (delivered_tx, mut deliveries) = mpsc::channel(2 * nodes);
    // Memory ports are process-wide: a fresh random range for every network (not from the
    // seed, which every size shares).
    let base_port = u64::from(rand::random::<u32>()) << 16;
    let mut swarms = Vec::with_capacity(nodes);
    let mut peer_ids = HashMap::with_capacity(nodes);
    let mut degrees = vec![0usize; nodes];
    for i in 0..nodes {
        let mut swarm = build_swarm()?;
        peer_ids.insert(*swarm.local_peer_id(), i);
        subscribe(swarm.behaviour_mut(), &topic_name).map_err(|e| anyhow::anyhow!("{e}"))?;
        swarm.listen_on(memory_addr(base_port + i as u64 + 1)).context("cannot listen on a memory port")?;
        for j in sample(&mut rng, i, i.min(DIALS)).iter() {
            swarm.dial(memory_addr(base_port + j as u64 + 1))?;
            degrees[i] += 1;
            degrees[j] += 1;
        }
        swarms.push(swarm);
    }
    let mut tasks = JoinSet::new();
    let mut commands = Vec::with_capacity(nodes);
    for (index, swarm) in swarms.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel(NODE_COMMANDS);
        commands.push(tx);
        tasks.spawn(run_node(index, swarm, rx, topic.hash(), registry.clone(), delivered_tx.clone()));
    }
    drop(delivered_tx);
    wait_for_meshes(&commands, &degrees, &peer_ids).await?;

    let mut started = Instant::now();
    let mut measured = Measured::default();
    for trial in 1..=WARMUP_TRIALS + trials {
        if trial == WARMUP_TRIALS + 1 {
            started = Instant::now();
        }
        let timed = trial > WARMUP_TRIALS;
        let publisher = rng.gen_range(0..nodes);
        let data = sign_record(&signer, &record(trial as u64));
        let sent = Instant::now();
        let (reply, answer) = oneshot::channel();
        commands[publisher].send(NodeCommand::Publish { data, reply }).await.context("a node stopped")?;
        answer.await.context("a node stopped")?.context("cannot publish")?;
        let mut holders = HashSet::from([publisher]);
        let deadline = tokio::time::Instant::now() + TRIAL_TIMEOUT;
        while holders.len() < nodes {
            let Ok(delivery) = tokio::time::timeout_at(deadline, deliveries.recv()).await else { break };
            let delivery = delivery.context("every node stopped")?;
            if delivery.sequence != trial as u64 || !holders.insert(delivery.node) {
                continue; // late from an earlier trial
            }
            if timed && holders.len() == quorum_of(nodes) {
                measured.to_quorum.push(delivery.at.saturating_duration_since(sent));
            }
            if timed && holders.len() == nodes {
                measured.to_all.push(delivery.at.saturating_duration_since(sent));
            }
        }
        if timed {
            measured.delivered.push(holders.len());
        }
    }
    measured.elapsed = started.elapsed();
    drop(commands);
    while tasks.join_next().await.is_some() {}
    Ok(measured)
}

fn memory_addr(port: u64) -> Multiaddr {
    format!("/memory/{port}").parse().expect("a /memory address with a number parses")
}

/// A swarm with the node's gossipsub over `MemoryTransport` + Noise + Yamux.
fn build_swarm() -> anyhow::Result<Swarm<gossipsub::Behaviour>> {
    let key = identity::Keypair::generate_ed25519();
    let transport = MemoryTransport::default()
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(&key)?)
        .multiplex(yamux::Config::default())
        .boxed();
    let behaviour = gossip_behaviour().map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = libp2p::swarm::Config::with_tokio_executor().with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT);
    Ok(Swarm::new(transport, behaviour, key.public().to_peer_id(), config))
}

/// A registry in which `signer` is the node of [`ORG`], which owns [`TENANT`].
fn registry_of(signer: &NodeKey) -> anyhow::Result<Registry> {
    let peer_id = peer_id_of_key(&signer.public_key()).context("the signing key is not ed25519")?.to_string();
    let mut registry = Registry::default();
    let member = Member { org: ORG.into(), peer_id, node_id: 1, role: MemberRole::Steward, admitted_at: 1 };
    registry.members.insert(ORG.into(), member);
    registry.tenants.insert(TENANT.into(), Tenant { name: TENANT.into(), owner: ORG.into(), created_at: 1 });
    Ok(registry)
}

/// The record of trial `sequence`: an agent of a typical size.
fn record(sequence: u64) -> pb::AgentRecord {
    let now = now_ms();
    pb::AgentRecord {
        org: ORG.into(),
        tenant: TENANT.into(),
        agent_id: "summarizer".into(),
        name: "Summarizer".into(),
        version: "1.4.2".into(),
        description: "Summarizes long documents into a page, with citations to the source.".into(),
        capabilities: ["summarize", "cite-sources", "translate", "classify"].map(String::from).to_vec(),
        endpoint: "https://agents.bench-org.example/summarizer".into(),
        protocol: "a2a".into(),
        format: "a2a-card".into(),
        manifest_digest: vec![7; 32],
        sequence,
        issued_at_ms: now,
        expires_at_ms: now + RECORD_TTL_MS,
        ..Default::default()
    }
}

/// Waits until every node is connected to its `degrees[i]` neighbours and knows they all
/// subscribed, and the mesh links join every node (`peer_ids` gives each node's index).
async fn wait_for_meshes(
    commands: &[mpsc::Sender<NodeCommand>],
    degrees: &[usize],
    peer_ids: &HashMap<PeerId, usize>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + MESH_TIMEOUT;
    loop {
        let mut settled = 0;
        let mut meshes = Vec::with_capacity(commands.len());
        for (node, degree) in commands.iter().zip(degrees) {
            let (reply, answer) = oneshot::channel();
            node.send(NodeCommand::Mesh { reply }).await.context("a node stopped")?;
            let state = answer.await.context("a node stopped")?;
            if state.connected == *degree && state.subscribed == *degree {
                settled += 1;
            }
            meshes.push(state.mesh.iter().filter_map(|peer| peer_ids.get(peer).copied()).collect());
        }
        let reached = reached_through_mesh(&meshes);
        if settled == commands.len() && reached == commands.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "after {MESH_TIMEOUT:?}, {settled} of {} nodes are connected to all their neighbours and the mesh \
                 joins {reached} of them",
                commands.len()
            );
        }
        tokio::time::sleep(MESH_POLL).await;
    }
}

/// How many nodes the mesh links join to node 0; `meshes[i]` lists node `i`'s mesh peers. A
/// link counts in both directions (a graft is mutual once both sides have processed it).
fn reached_through_mesh(meshes: &[Vec<usize>]) -> usize {
    let mut links = vec![Vec::new(); meshes.len()];
    for (node, mesh) in meshes.iter().enumerate() {
        for &peer in mesh {
            links[node].push(peer);
            links[peer].push(node);
        }
    }
    let mut seen = vec![false; meshes.len()];
    let mut stack = vec![0];
    let mut reached = 0;
    while let Some(node) = stack.pop() {
        if std::mem::replace(&mut seen[node], true) {
            continue;
        }
        reached += 1;
        stack.extend(links[node].iter().copied().filter(|n| !seen[*n]));
    }
    reached
}

/// A node: drives its swarm, validates what it receives as the node does, and reports
/// deliveries; stops when the coordinator drops its command sender.
async fn run_node(
    index: usize,
    mut swarm: Swarm<gossipsub::Behaviour>,
    mut commands: mpsc::Receiver<NodeCommand>,
    topic: TopicHash,
    registry: Registry,
    delivered: mpsc::Sender<Delivery>,
) {
    loop {
        tokio::select! {
            event = swarm.select_next_some() => {
                let SwarmEvent::Behaviour(gossipsub::Event::Message { propagation_source, message_id, message }) = event
                else {
                    continue;
                };
                let acceptance = match verify_record(&message.data, &registry, now_ms()) {
                    Ok(verified) => {
                        let at = Instant::now();
                        // The channel holds two trials' deliveries of every node; a full one means
                        // the coordinator is gone or behind, and the trial then counts as short.
                        let _ = delivered.try_send(Delivery { node: index, sequence: verified.record.sequence, at });
                        MessageAcceptance::Accept
                    }
                    Err(_) => MessageAcceptance::Reject,
                };
                swarm.behaviour_mut().report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            command = commands.recv() => match command {
                None => return,
                Some(NodeCommand::Publish { data, reply }) => {
                    let result = swarm.behaviour_mut().publish(topic.clone(), data).map(|_| ());
                    let _ = reply.send(result);
                }
                Some(NodeCommand::Mesh { reply }) => {
                    let gossipsub = swarm.behaviour();
                    let state = MeshState {
                        connected: swarm.connected_peers().count(),
                        subscribed: gossipsub.all_peers().filter(|(_, topics)| topics.contains(&&topic)).count(),
                        mesh: gossipsub.mesh_peers(&topic).copied().collect(),
                    };
                    let _ = reply.send(state);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_99_percent_rounded_up() {
        assert_eq!(quorum_of(10), 10);
        assert_eq!(quorum_of(100), 99);
        assert_eq!(quorum_of(1000), 990);
        assert_eq!(quorum_of(5), 5);
    }

    #[test]
    fn the_mesh_must_join_every_node() {
        assert_eq!(reached_through_mesh(&[vec![1], vec![], vec![1]]), 3, "links count both ways");
        assert_eq!(reached_through_mesh(&[vec![1], vec![0], vec![3], vec![2]]), 2, "two islands");
        assert_eq!(reached_through_mesh(&[vec![]]), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_node_of_a_small_network_validates_every_record() {
        let measured = measure(5, 3, 11).await.expect("bench");
        assert_eq!(measured.delivered, vec![5, 5, 5], "every node must get every record");
        assert_eq!(measured.to_all.len(), 3);
        assert_eq!(measured.to_quorum.len(), 3);
        assert!(measured.to_quorum.iter().zip(&measured.to_all).all(|(q, a)| q <= a));
    }
}
