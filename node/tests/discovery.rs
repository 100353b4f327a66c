//! Discovery across a real federation: nodes given only the first node's address find and
//! connect to each other through Kademlia, although nothing else would connect them.
//!
//! One steward and two members: the members are Raft learners, which only the leader talks
//! to, and each was given only the steward's address. Each must end up connected to, and
//! admitted by, the other, with the other in its routing table.

use std::time::Duration;

use ossa_testnet::Federation;

/// Discovery runs when a node's routing table gains a peer and every 30 s; a minute covers
/// an unlucky start in which both members asked the steward before it knew the other.
const DISCOVERED: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn members_given_one_bootstrap_address_find_each_other() {
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 1).expect("testnet up");
    let peer_id = |i: usize| net.node(i).peer_id.clone();
    for (node, other) in [(1, 2), (2, 1)] {
        let status = net
            .wait_until("each member is connected to the other and has admitted it", DISCOVERED, || async {
                let status = net.status(node).await.ok()?;
                let peers = status["peers"].as_array()?;
                peers.iter().any(|p| p["peer_id"] == peer_id(other).as_str()).then_some(status)
            })
            .await
            .expect("discovered");
        assert_eq!(status["raft_state"], "learner", "{status}");
        assert_eq!(status["peers"].as_array().map(Vec::len), Some(2), "the steward and the other member: {status}");
    }
    for node in [1, 2] {
        net.wait_until("the routing table holds both other nodes", DISCOVERED, || async {
            (net.status(node).await.ok()?["routing_table"].as_u64()? == 2).then_some(())
        })
        .await
        .expect("routing table");
    }
}
