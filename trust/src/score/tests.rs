//! Scenario tests of the whole path: ledger, computation, agents and breaker.

use super::*;

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;
/// A time well past the epoch, aligned to nothing in particular.
const NOW: u64 = 2_000 * DAY + 5 * HOUR;

const STEWARDS: [&str; 3] = ["s0", "s1", "s2"];
const MEMBERS: [&str; 7] = ["a", "b", "c", "s0", "s1", "s2", "x"];

/// Records observations with per-observer sequences.
struct Feed {
    ledger: TrustLedger,
    next: std::collections::HashMap<String, u64>,
}

impl Feed {
    fn new() -> Self {
        Self { ledger: TrustLedger::new(TrustConfig::default()).expect("valid"), next: Default::default() }
    }

    fn observe(&mut self, observer: &str, subject: &str, outcome: Outcome, count: usize, at: u64) {
        self.observe_agent(observer, subject, &format!("{subject}-t/main"), outcome, count, at);
    }

    fn observe_agent(&mut self, observer: &str, subject: &str, agent: &str, outcome: Outcome, count: usize, at: u64) {
        for _ in 0..count {
            let sequence = self.next.entry(observer.to_owned()).or_insert(0);
            *sequence += 1;
            let observation = Observation {
                observer_org: observer.into(),
                subject_org: subject.into(),
                subject_agent: agent.into(),
                outcome,
                latency_ms: None,
                at_ms: at,
                sequence: *sequence,
            };
            self.ledger.record(&observation, at).expect("accepted");
        }
    }

    fn scores(&self, at: u64) -> TrustScores {
        self.ledger.compute(&MEMBERS, &STEWARDS, at)
    }
}

fn score_of(scores: &TrustScores, org: &str) -> u16 {
    scores.org(org).expect("member").score
}

#[test]
fn without_observations_the_stewards_hold_everything() {
    let scores = Feed::new().scores(NOW);
    assert_eq!(scores.orgs.len(), MEMBERS.len());
    for org in &scores.orgs {
        let steward = STEWARDS.contains(&org.org.as_str());
        assert_eq!(org.steward, steward);
        assert_eq!(org.score, if steward { 1000 } else { 0 }, "{}", org.org);
        assert_eq!(org.evidence, Evidence::default());
    }
    assert_eq!(scores.orgs.iter().map(|o| o.share).sum::<u64>(), SHARE_SCALE);
    assert_eq!(scores.org("s0").map(|o| o.share), Some(SHARE_SCALE / 3 + 1), "remainder to the first");
    assert!(scores.agents.is_empty());
}

#[test]
fn decayed_evidence_halves_every_half_life() {
    let mut feed = Feed::new();
    feed.observe("s0", "a", Outcome::Success, 1, NOW - WEEK);
    feed.observe("s0", "a", Outcome::Failure, 4, NOW - 2 * WEEK);
    feed.observe("s1", "a", Outcome::Violation, 1, NOW);
    let evidence = feed.scores(NOW).org("a").expect("member").evidence;
    assert_eq!(evidence.successes_milli, 500);
    assert_eq!(evidence.failures_milli, 1000);
    assert_eq!(evidence.violations_milli, 1000);
    assert_eq!(evidence.observers, 2);
    // Three and a half days later everything has decayed by another 2^-1/2.
    let later = feed.scores(NOW + WEEK / 2).org("a").expect("member").evidence;
    assert_eq!(later.successes_milli, 354);
    assert_eq!(later.failures_milli, 707);
}

#[test]
fn good_service_earns_trust_and_bad_service_loses_it() {
    let mut feed = Feed::new();
    for steward in STEWARDS {
        feed.observe(steward, "a", Outcome::Success, 20, NOW - DAY);
        feed.observe(steward, "b", Outcome::Success, 10, NOW - DAY);
        feed.observe(steward, "x", Outcome::Success, 10, NOW - DAY);
        feed.observe(steward, "x", Outcome::Failure, 30, NOW - DAY);
    }
    let scores = feed.scores(NOW);
    assert!(score_of(&scores, "a") > score_of(&scores, "b"));
    assert!(score_of(&scores, "b") > 0);
    assert_eq!(score_of(&scores, "x"), 0, "more failures than successes from everyone");
    assert_eq!(scores.org("x").expect("member").share, 0);
    assert_eq!(score_of(&scores, "c"), 0, "nobody dealt with c");
    assert_eq!(scores.orgs.iter().map(|o| o.share).sum::<u64>(), SHARE_SCALE);
    // Closed form: stewards hold T with T = a + (1 - a)(1 - T) (members rate nobody, so their
    // trust flows back to p); a gets 2/3 and b 1/3 of (1 - a) T.
    let t = 1.0 / 1.85;
    let share = |org| scores.org(org).expect("member").share as f64 / SHARE_SCALE as f64;
    assert!((share("a") - 0.85 * t * 2.0 / 3.0).abs() < 1e-8, "{}", share("a"));
    assert!((share("b") - 0.85 * t / 3.0).abs() < 1e-8, "{}", share("b"));
    assert_eq!(score_of(&scores, "a"), 1000, "over twice the average share");
    assert_eq!(score_of(&scores, "b"), 536, "500 * 7 members * 0.85 / 1.85 / 3");
}

#[test]
fn failures_reported_by_a_single_observer_lower_the_subject_below_its_peers() {
    let mut feed = Feed::new();
    let before = feed.scores(NOW);
    assert_eq!(score_of(&before, "s2"), score_of(&before, "s1"));
    feed.observe("s0", "s2", Outcome::Failure, 10, NOW);
    let after = feed.scores(NOW);
    assert!(score_of(&after, "s2") < score_of(&after, "s1"), "s0 withholds its trust from s2: {after:?}");
    assert!(score_of(&after, "s2") < score_of(&before, "s2"));
    let total: u64 = after.orgs.iter().map(|o| o.share).sum();
    assert_eq!(total, SHARE_SCALE, "still a distribution");
}

#[test]
fn reports_from_and_about_non_members_are_ignored() {
    let mut feed = Feed::new();
    feed.observe("s0", "a", Outcome::Success, 5, NOW - DAY);
    let before = feed.scores(NOW);
    feed.observe("outsider", "a", Outcome::Failure, 50, NOW - DAY);
    feed.observe("s0", "outsider", Outcome::Success, 50, NOW - DAY);
    feed.observe("a", "outsider", Outcome::Success, 50, NOW - DAY);
    let after = feed.scores(NOW);
    assert_eq!(after.org("outsider"), None);
    assert_eq!(
        after.orgs.iter().map(|o| (o.share, o.score)).collect::<Vec<_>>(),
        before.orgs.iter().map(|o| (o.share, o.score)).collect::<Vec<_>>()
    );
    assert_eq!(after.org("a").expect("member").evidence, before.org("a").expect("member").evidence);
}

#[test]
fn equivocation_drops_the_signer_to_zero_and_silences_it() {
    let mut feed = Feed::new();
    for steward in STEWARDS {
        feed.observe(steward, "a", Outcome::Success, 10, NOW - DAY);
        feed.observe(steward, "b", Outcome::Success, 10, NOW - DAY);
    }
    feed.observe("a", "c", Outcome::Success, 10, NOW - DAY);
    let before = feed.scores(NOW);
    assert!(score_of(&before, "a") > 0 && score_of(&before, "c") > 0);

    let proof = Penalty {
        reporter_org: "b".into(),
        subject_org: "a".into(),
        kind: PenaltyKind::Equivocation,
        evidence_id: "checkpoint-fork-1".into(),
        at_ms: NOW,
    };
    feed.ledger.record_penalty(&proof, NOW).expect("accepted");
    let after = feed.scores(NOW + 200 * WEEK);
    let a = after.org("a").expect("member");
    assert!(a.convicted);
    assert_eq!((a.score, a.share), (0, 0), "for good, even when all observations have expired");
    assert_eq!(a.evidence.penalties_milli, 1000);
    let now = feed.scores(NOW);
    assert_eq!(score_of(&now, "a"), 0);
    assert_eq!(score_of(&now, "c"), 0, "a's opinions no longer count");
    assert_eq!(now.agent_score("a", "a-t/main"), Some(0));
    assert_eq!(now.orgs.iter().map(|o| o.share).sum::<u64>(), SHARE_SCALE);
}

#[test]
fn an_invalid_signature_report_weighs_heavily_in_the_reporters_opinion_only() {
    let mut feed = Feed::new();
    for steward in STEWARDS {
        feed.observe(steward, "a", Outcome::Success, 10, NOW - DAY);
        feed.observe(steward, "b", Outcome::Success, 10, NOW - DAY);
    }
    let before = feed.scores(NOW);
    let report = Penalty {
        reporter_org: "s0".into(),
        subject_org: "a".into(),
        kind: PenaltyKind::InvalidSignature,
        evidence_id: "msg-1".into(),
        at_ms: NOW,
    };
    feed.ledger.record_penalty(&report, NOW).expect("accepted");
    let after = feed.scores(NOW);
    assert!(score_of(&after, "a") < score_of(&before, "a"));
    assert!(score_of(&after, "a") > 0, "s1 and s2 still vouch for a");
    assert!(score_of(&after, "b") > score_of(&before, "b"), "s0's trust now goes to b alone");
    assert_eq!(after.org("a").expect("member").evidence.penalties_milli, 1000);
    assert!(!after.org("a").expect("member").convicted);
}

#[test]
fn agents_start_from_their_org_and_move_with_their_own_record() {
    let mut feed = Feed::new();
    for steward in STEWARDS {
        feed.observe_agent(steward, "a", "a-t/good", Outcome::Success, 20, NOW);
        feed.observe_agent(steward, "a", "a-t/bad", Outcome::Failure, 4, NOW);
        feed.observe_agent(steward, "a", "a-t/bad", Outcome::Success, 1, NOW);
    }
    // Reports from an org nobody trusts do not move an agent.
    feed.observe_agent("c", "a", "a-t/good", Outcome::Violation, 50, NOW);
    let scores = feed.scores(NOW);
    let org = f64::from(score_of(&scores, "a"));
    let good = scores.agent("a", "a-t/good").expect("reported");
    let bad = scores.agent("a", "a-t/bad").expect("reported");
    assert_eq!(f64::from(good.org_score), org);
    assert!(good.score > bad.score);
    assert!(f64::from(bad.score) < org);
    assert_eq!(good.evidence.violations_milli, 50_000, "evidence shows every member's reports");
    assert_eq!(good.evidence.observers, 4);
    assert_eq!(score_of(&scores, "c"), 0);
    // (O * m + 1000 * S) / (m + S + F + k * V), each steward's reports weighted by its score.
    let w = f64::from(score_of(&scores, "s1")) / 1000.0;
    assert!(w > 0.5 && w < 1.0, "{w}");
    let expected_good = (org * 10.0 + 1000.0 * 60.0 * w) / (10.0 + 60.0 * w);
    let expected_bad = (org * 10.0 + 1000.0 * 3.0 * w) / (10.0 + 15.0 * w);
    assert!((f64::from(good.score) - expected_good).abs() <= 1.0, "{} vs {expected_good}", good.score);
    assert!((f64::from(bad.score) - expected_bad).abs() <= 1.0, "{} vs {expected_bad}", bad.score);
    assert_eq!(scores.agent_score("a", "a-t/unknown").map(f64::from), Some(org));
    assert_eq!(scores.agent_score("nobody", "a-t/good"), None);
}

#[test]
fn pruning_does_not_change_scores() {
    let mut feed = Feed::new();
    feed.observe("s0", "a", Outcome::Success, 3, NOW - 120 * DAY);
    feed.observe("s0", "b", Outcome::Success, 3, NOW - 100 * DAY);
    feed.observe("s1", "a", Outcome::Failure, 3, NOW - DAY);
    let before = feed.scores(NOW);
    let pairs = feed.ledger.stats().org_pairs;
    feed.ledger.prune(NOW);
    assert_eq!(feed.ledger.stats().org_pairs, pairs - 1, "the 120-day-old pair is gone");
    assert_eq!(feed.scores(NOW), before);
}

#[test]
fn breaker_quarantines_after_failures_and_releases_after_recovery() {
    let mut feed = Feed::new();
    let mut breaker = CircuitBreaker::new(TrustConfig::default().breaker).expect("valid");
    for steward in STEWARDS {
        for member in ["a", "b", "c", "x"] {
            feed.observe(steward, member, Outcome::Success, 10, NOW - DAY);
        }
    }
    assert!(breaker.update(&feed.scores(NOW)).is_empty());
    for steward in STEWARDS {
        feed.observe(steward, "x", Outcome::Failure, 40, NOW);
    }
    let transitions = breaker.update(&feed.scores(NOW));
    let expected: Vec<(Subject, Change)> = vec![
        (Subject::Org { org: "x".into() }, Change::Quarantined),
        (Subject::Agent { org: "x".into(), agent: "x-t/main".into() }, Change::Quarantined),
    ];
    assert_eq!(transitions.iter().map(|t| (t.subject.clone(), t.change)).collect::<Vec<_>>(), expected);
    assert_eq!(transitions[0].score, 0);
    assert_eq!(transitions[0].evidence.failures_milli, 120_000);
    assert!(transitions[1].score < 200, "{}", transitions[1].score);
    // Two weeks later the failures weigh a quarter and x serves well again.
    let later = NOW + 2 * WEEK;
    for steward in STEWARDS {
        feed.observe(steward, "x", Outcome::Success, 30, later);
    }
    let transitions = breaker.update(&feed.scores(later));
    assert_eq!(
        transitions.iter().map(|t| (t.subject.clone(), t.change)).collect::<Vec<_>>(),
        expected.into_iter().map(|(s, _)| (s, Change::Released)).collect::<Vec<_>>()
    );
    assert!(transitions.iter().all(|t| t.score >= 400));
    assert_eq!(breaker.quarantined().count(), 0);
}
