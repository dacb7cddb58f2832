//! Finding duplicate leads and merging them. Exact matches on lead id,
//! email or phone; fuzzy matches on a person's name within one company.
//! Merged leads keep, field by field, the first non-empty value in
//! survivorship order: trusted sources first (when configured), then the
//! newest record, then the most complete one.

use crate::mapping::Mapping;
use crate::normalize::fold_into;
use leadq_core::{Lead, Value};
use rayon::prelude::*;
use serde::Serialize;

/// One merge: several input rows became one lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Merge {
    /// The id of the lead that remains.
    pub survivor: String,
    pub survivor_row: usize,
    /// Rows (and ids) folded into the survivor.
    pub merged_rows: Vec<usize>,
    pub merged_ids: Vec<String>,
    /// What matched: `lead_id`, `email`, `phone`, `name+company`, joined by `,`.
    pub matched_on: String,
    /// 1 for exact matches; the name similarity for fuzzy ones.
    pub confidence: f64,
}

struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).collect(),
        }
    }
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }
    fn union(&mut self, a: u32, b: u32) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[hi as usize] = lo;
        true
    }
}

/// A company name without legal suffixes and punctuation, for blocking.
pub fn company_key(name: &str) -> String {
    let mut key = String::new();
    push_company_key(&mut key, name);
    key
}

/// Appends [`company_key`] of `name` to `out`; returns whether it added
/// anything.
fn push_company_key(out: &mut String, name: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "inc",
        "llc",
        "ltd",
        "limited",
        "gmbh",
        "corp",
        "corporation",
        "co",
        "company",
        "plc",
        "sa",
        "ag",
        "bv",
        "srl",
        "sas",
        "pty",
        "oy",
        "ab",
        "as",
        "kk",
        "the",
    ];
    let start = out.len();
    let mut folded = String::with_capacity(name.len());
    fold_into(&mut folded, name);
    for word in folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !SUFFIXES.contains(w))
    {
        if out.len() > start {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.len() > start
}

/// The folded full name with everything but letters and spaces removed, if
/// it has two parts and at least three characters.
fn person_key(l: &Lead) -> Option<String> {
    let (first, last) = (&l.contact.first_name, &l.contact.last_name);
    if first.is_none() && last.is_none() {
        return None;
    }
    let mut k = String::new();
    for part in [first, last].into_iter().flatten() {
        fold_into(&mut k, part);
    }
    k.retain(|c| c.is_alphabetic() || c == ' ');
    let k = k.trim();
    (k.len() >= 3 && k.contains(' ')).then(|| k.to_string())
}

fn fx_hash(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

/// What made two records one; bits of a cluster's match mask, in the order
/// they are reported.
const MATCH_KINDS: [&str; 4] = ["lead_id", "email", "phone", "name+company"];

/// An edge between two records: (earlier, later, match kind, confidence).
type Edge = (u32, u32, u8, f64);

/// Records sharing an exact key, as edges from each to the first record
/// with the same key. Sorting hashes keeps this parallel and allocation-free
/// per record; equal hashes are confirmed on the strings.
fn exact_edges(leads: &[Lead], kind: u8, key: impl Fn(&Lead) -> Option<&str> + Sync) -> Vec<Edge> {
    let mut hashed: Vec<(u64, u32)> = leads
        .par_iter()
        .enumerate()
        .filter_map(|(i, l)| key(l).map(|k| (fx_hash(k), i as u32)))
        .collect();
    hashed.par_sort_unstable();
    let mut edges = Vec::new();
    for run in hashed.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
        for (k, &(_, later)) in run.iter().enumerate().skip(1) {
            let later_key = key(&leads[later as usize]);
            if let Some(&(_, first)) = run[..k]
                .iter()
                .find(|(_, j)| key(&leads[*j as usize]) == later_key)
            {
                edges.push((first, later, kind, 1.0));
            }
        }
    }
    edges
}

/// Pairs of records of one company whose names are nearly the same.
fn fuzzy_edges(leads: &[Lead], mapping: &Mapping) -> Vec<Edge> {
    // Block by company and the initials of the name, so comparisons stay
    // near-linear even when many companies share a name; a typo rarely
    // changes an initial, and a merge needs the same last initial anyway.
    let keys: Vec<Option<(String, String)>> = leads
        .par_iter()
        .map(|l| {
            let person = person_key(l)?;
            // The block: `company key|initials`, built in one buffer.
            let mut block = String::with_capacity(32);
            let named = l
                .company
                .name
                .as_deref()
                .is_some_and(|n| push_company_key(&mut block, n));
            if !named {
                block.push_str(l.company.domain.as_ref()?.as_str());
            }
            block.push('|');
            block.extend(person.split(' ').filter_map(|w| w.chars().next()));
            Some((block, person))
        })
        .collect();
    let mut hashed: Vec<(u64, u32)> = keys
        .par_iter()
        .enumerate()
        .filter_map(|(i, k)| k.as_ref().map(|(b, _)| (fx_hash(b), i as u32)))
        .collect();
    hashed.par_sort_unstable();
    let conflicting =
        |p: Option<&str>, q: Option<&str>| matches!((p, q), (Some(p), Some(q)) if p != q);
    let mut edges = Vec::new();
    for run in hashed
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|r| r.len() > 1 && r.len() <= 2000)
    {
        // More than 2000 people in one block is a placeholder company name.
        for x in 0..run.len() {
            for y in x + 1..run.len() {
                let (a, b) = (run[x].1 as usize, run[y].1 as usize);
                let (Some((ba, na)), Some((bb, nb))) = (&keys[a], &keys[b]) else {
                    continue;
                };
                if ba != bb {
                    continue;
                }
                let (la, lb) = (&leads[a], &leads[b]);
                if conflicting(
                    la.contact.email.as_ref().map(|e| e.as_str()),
                    lb.contact.email.as_ref().map(|e| e.as_str()),
                ) || conflicting(
                    la.contact.phone.as_ref().map(|e| e.as_str()),
                    lb.contact.phone.as_ref().map(|e| e.as_str()),
                ) {
                    continue;
                }
                let sim = strsim::jaro_winkler(na, nb);
                let same_last_initial = na.split(' ').next_back().map(|s| s.chars().next())
                    == nb.split(' ').next_back().map(|s| s.chars().next());
                if sim >= mapping.fuzzy_threshold && same_last_initial {
                    edges.push((a as u32, b as u32, 3, sim));
                }
            }
        }
    }
    edges
}

/// Clusters duplicate leads. `rows[i]` is the input row of `leads[i]`.
/// Returns the merged leads (one per cluster, in the order of each
/// cluster's first row), their source indices (survivor first), and the
/// merges.
pub fn dedupe(
    mut leads: Vec<Lead>,
    rows: &[usize],
    mapping: &Mapping,
) -> (Vec<Lead>, Vec<Vec<usize>>, Vec<Merge>) {
    let n = leads.len();
    let ((by_id, by_email), (by_phone, fuzzy)) = rayon::join(
        || {
            rayon::join(
                || exact_edges(&leads, 0, |l| Some(l.id.as_str())),
                || exact_edges(&leads, 1, |l| l.contact.email.as_ref().map(|e| e.as_str())),
            )
        },
        || {
            rayon::join(
                || exact_edges(&leads, 2, |l| l.contact.phone.as_ref().map(|p| p.as_str())),
                || {
                    if mapping.fuzzy {
                        fuzzy_edges(&leads, mapping)
                    } else {
                        Vec::new()
                    }
                },
            )
        },
    );
    let mut uf = UnionFind::new(n);
    // Per root: which kinds of match joined the cluster, and the weakest link.
    let mut mask = vec![0u8; n];
    let mut confidence = vec![1.0f64; n];
    for (a, b, kind, conf) in by_id
        .into_iter()
        .chain(by_email)
        .chain(by_phone)
        .chain(fuzzy)
    {
        let (ra, rb) = (uf.find(a), uf.find(b));
        if ra == rb {
            continue;
        }
        uf.union(ra, rb);
        let (lo, hi) = (ra.min(rb) as usize, ra.max(rb) as usize);
        mask[lo] |= mask[hi] | (1 << kind);
        confidence[lo] = confidence[lo].min(confidence[hi]).min(conf);
    }
    // Clusters in order of first appearance; most are single records.
    let mut cluster_of = vec![u32::MAX; n];
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    for i in 0..n {
        let r = uf.find(i as u32) as usize;
        if cluster_of[r] == u32::MAX {
            cluster_of[r] = clusters.len() as u32;
            clusters.push(Vec::with_capacity(1));
        }
        clusters[cluster_of[r] as usize].push(i);
    }
    let source_rank = |l: &Lead| {
        l.source
            .channel
            .as_ref()
            .and_then(|s| mapping.source_priority.iter().position(|p| p == s))
            .unwrap_or(usize::MAX)
    };
    let recency = |l: &Lead| l.updated_at.or(l.created_at).map_or(i64::MIN, |t| t.0);
    // Between records of the same age, the fuller one is the better source
    // (a hand-typed badge scan loses to the form the person filled in).
    let completeness = |l: &Lead| {
        let c = &l.contact;
        [
            c.email.is_some(),
            c.phone.is_some(),
            c.first_name.is_some(),
            c.last_name.is_some(),
            c.title.is_some(),
            l.company.name.is_some(),
            l.company.domain.is_some(),
            l.company.employees.is_some(),
            l.company.industry.is_some(),
            l.company.country.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count()
    };
    // The merged leads are compacted into `leads` itself: the k-th cluster
    // (in order of its smallest index) lands in slot k, and every slot
    // before that smallest index belongs to an earlier, already moved cluster.
    let mut merges = Vec::new();
    let mut out_len = 0;
    for members in clusters.iter_mut() {
        if members.len() == 1 {
            leads[out_len] = std::mem::take(&mut leads[members[0]]);
            out_len += 1;
            continue;
        }
        let root = uf.find(members[0] as u32) as usize;
        members.sort_by(|&a, &b| {
            let (la, lb) = (&leads[a], &leads[b]);
            source_rank(la)
                .cmp(&source_rank(lb))
                .then_with(|| recency(lb).cmp(&recency(la)))
                .then_with(|| completeness(lb).cmp(&completeness(la)))
                .then_with(|| b.cmp(&a))
        });
        let mut survivor = std::mem::take(&mut leads[members[0]]);
        let mut merged_ids = Vec::new();
        for &m in &members[1..] {
            let other = std::mem::take(&mut leads[m]);
            merged_ids.push(other.id.to_string());
            fill_missing(&mut survivor, other);
        }
        let matched_on: Vec<&str> = MATCH_KINDS
            .iter()
            .enumerate()
            .filter(|(k, _)| mask[root] & (1 << k) != 0)
            .map(|(_, name)| *name)
            .collect();
        merges.push(Merge {
            survivor: survivor.id.to_string(),
            survivor_row: rows[members[0]],
            merged_rows: members[1..].iter().map(|&m| rows[m]).collect(),
            merged_ids,
            matched_on: matched_on.join(","),
            confidence: confidence[root],
        });
        leads[out_len] = survivor;
        out_len += 1;
    }
    leads.truncate(out_len);
    (leads, clusters, merges)
}

/// Fills every empty field of `dst` from `src`.
fn fill_missing(dst: &mut Lead, src: Lead) {
    macro_rules! fill {
        ($($f:ident).+) => {
            if dst.$($f).+.is_none() {
                dst.$($f).+ = src.$($f).+;
            }
        };
    }
    fill!(contact.email);
    fill!(contact.email_kind);
    fill!(contact.first_name);
    fill!(contact.last_name);
    fill!(contact.phone);
    fill!(contact.title);
    fill!(contact.seniority);
    fill!(contact.department);
    fill!(company.name);
    fill!(company.domain);
    fill!(company.industry);
    fill!(company.employees);
    fill!(company.revenue);
    fill!(company.country);
    fill!(company.region);
    fill!(company.city);
    fill!(source.channel);
    fill!(source.campaign);
    fill!(source.utm_source);
    fill!(source.utm_medium);
    fill!(source.utm_campaign);
    fill!(consent.opt_in);
    fill!(consent.lawful_basis);
    fill!(owner);
    fill!(stage);
    // The earliest creation date is the lead's true age.
    dst.created_at = match (dst.created_at, src.created_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    fill!(updated_at);
    // Consent withdrawn anywhere is withdrawn.
    dst.consent.do_not_contact |= src.consent.do_not_contact;
    for (d, s) in dst.custom.iter_mut().zip(src.custom) {
        if d.is_null() {
            *d = s;
        }
    }
    for (d, s) in dst.answers.iter_mut().zip(src.answers) {
        if matches!(d, Value::Null) {
            *d = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadq_core::{Email, PhoneNumber, Timestamp};

    fn lead(id: &str, email: Option<&str>, name: (&str, &str), company: &str) -> Lead {
        let mut l = Lead {
            id: id.into(),
            ..Lead::default()
        };
        l.contact.email = email.map(|e| Email::parse(e).unwrap());
        l.contact.first_name = Some(name.0.into());
        l.contact.last_name = Some(name.1.into());
        l.company.name = Some(company.into());
        l
    }

    #[test]
    fn exact_email_duplicates_merge_newest_non_empty_first() {
        let mut a = lead("1", Some("ann@acme.com"), ("Ann", "Lee"), "Acme");
        a.updated_at = Some(Timestamp(100));
        a.contact.title = Some("CTO".into());
        let mut b = lead("2", Some("ANN@acme.com"), ("Ann", "Lee"), "Acme Inc");
        b.updated_at = Some(Timestamp(200));
        b.company.employees = Some(500.0);
        let (out, members, merges) = dedupe(vec![a, b], &[1, 2], &Mapping::default());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "2", "the newest record survives");
        assert_eq!(out[0].company.name.as_deref(), Some("Acme Inc"));
        assert_eq!(
            out[0].contact.title.as_deref(),
            Some("CTO"),
            "empty fields are filled from the older record"
        );
        assert_eq!(out[0].company.employees, Some(500.0));
        assert_eq!(members[0], vec![1, 0]);
        assert_eq!(merges[0].matched_on, "email");
        assert_eq!(merges[0].merged_rows, vec![1]);
        assert_eq!(merges[0].confidence, 1.0);
    }

    #[test]
    fn phone_duplicates_merge_and_source_priority_beats_recency() {
        let mut a = lead("1", None, ("Bo", "Kim"), "X");
        a.contact.phone = Some(PhoneNumber::parse_e164("+14155552671").unwrap());
        a.source.channel = Some("sales".into());
        a.updated_at = Some(Timestamp(1));
        let mut b = lead("2", None, ("Bo", "Kim"), "Y");
        b.contact.phone = Some(PhoneNumber::parse_e164("+14155552671").unwrap());
        b.source.channel = Some("web".into());
        b.updated_at = Some(Timestamp(9));
        let m = Mapping {
            source_priority: vec!["sales".into(), "web".into()],
            ..Mapping::default()
        };
        let (out, _, merges) = dedupe(vec![a, b], &[1, 2], &m);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].company.name.as_deref(), Some("X"));
        assert!(merges[0].matched_on.contains("phone"));
    }

    #[test]
    fn similar_names_at_one_company_merge_with_a_confidence() {
        let a = lead(
            "1",
            Some("jon.smith@acme.com"),
            ("Jon", "Smith"),
            "Acme Inc.",
        );
        let b = lead("2", None, ("John", "Smith"), "ACME");
        let c = lead("3", None, ("Jane", "Doe"), "Acme");
        let (out, _, merges) = dedupe(vec![a, b, c], &[1, 2, 3], &Mapping::default());
        assert_eq!(out.len(), 2);
        assert_eq!(merges.len(), 1);
        assert_eq!(merges[0].matched_on, "name+company");
        assert!(
            merges[0].confidence > 0.93 && merges[0].confidence < 1.0,
            "{}",
            merges[0].confidence
        );
    }

    #[test]
    fn between_records_of_the_same_age_the_fuller_one_survives() {
        let mut full = lead("1", Some("jon.smith@acme.com"), ("Jon", "Smith"), "Acme");
        full.created_at = Some(Timestamp(50));
        let mut scan = lead("2", None, ("Jo", "Smith"), "Acme");
        scan.created_at = Some(Timestamp(50));
        let (out, _, merges) = dedupe(
            vec![full, scan],
            &[1, 2],
            &Mapping {
                fuzzy_threshold: 0.9,
                ..Mapping::default()
            },
        );
        assert_eq!(merges.len(), 1);
        assert_eq!(out[0].id, "1");
        assert_eq!(out[0].contact.first_name.as_deref(), Some("Jon"));
    }

    #[test]
    fn people_with_different_emails_are_not_fuzzy_merged() {
        let a = lead("1", Some("jon@acme.com"), ("Jon", "Smith"), "Acme");
        let b = lead("2", Some("john@acme.com"), ("John", "Smith"), "Acme");
        let (out, _, merges) = dedupe(vec![a, b], &[1, 2], &Mapping::default());
        assert_eq!(out.len(), 2);
        assert!(merges.is_empty());
    }

    #[test]
    fn company_keys_drop_legal_suffixes() {
        assert_eq!(company_key("Acme, Inc."), "acme");
        assert_eq!(company_key("The Acme Company GmbH"), "acme");
    }
}
