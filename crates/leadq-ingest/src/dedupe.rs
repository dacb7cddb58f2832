//! Finding duplicate leads and merging them. Exact matches on lead id,
//! email or phone; fuzzy matches on a person's name within one company.
//! Merged leads keep, field by field, the first non-empty value in
//! survivorship order: trusted sources first (when configured), then the
//! newest record.

use crate::mapping::Mapping;
use crate::normalize::fold;
use leadq_core::{Lead, Value};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
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
    fold(name)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !SUFFIXES.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn person_key(l: &Lead) -> Option<String> {
    let name = l.full_name()?;
    let k: String = fold(&name)
        .chars()
        .filter(|c| c.is_alphabetic() || *c == ' ')
        .collect();
    let k = k.trim().to_string();
    (k.len() >= 3 && k.contains(' ')).then_some(k)
}

/// Clusters duplicate leads. `rows[i]` is the input row of `leads[i]`.
/// Returns the merged leads (one per cluster, in the order of each
/// cluster's first row), their source indices (survivor first), and the
/// merges.
pub fn dedupe(
    leads: Vec<Lead>,
    rows: &[usize],
    mapping: &Mapping,
) -> (Vec<Lead>, Vec<Vec<usize>>, Vec<Merge>) {
    let n = leads.len();
    let mut uf = UnionFind::new(n);
    let mut reasons: FxHashMap<u32, (Vec<&'static str>, f64)> = FxHashMap::default();
    let mut note = |uf: &mut UnionFind, a: usize, b: usize, why: &'static str, conf: f64| {
        if uf.union(a as u32, b as u32) {
            let e = reasons.entry(a.min(b) as u32).or_insert((Vec::new(), 1.0));
            if !e.0.contains(&why) {
                e.0.push(why);
            }
            e.1 = e.1.min(conf);
            // Keep the reason of the absorbed root too.
            if let Some(other) = reasons.remove(&(a.max(b) as u32)) {
                let e = reasons.entry(a.min(b) as u32).or_insert((Vec::new(), 1.0));
                for w in other.0 {
                    if !e.0.contains(&w) {
                        e.0.push(w);
                    }
                }
                e.1 = e.1.min(other.1);
            }
        }
    };
    {
        let mut by_id: FxHashMap<&str, usize> = FxHashMap::default();
        let mut by_email: FxHashMap<&str, usize> = FxHashMap::default();
        let mut by_phone: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, l) in leads.iter().enumerate() {
            if let Some(&j) = by_id.get(l.id.as_str()) {
                let (rj, ri) = (uf.find(j as u32) as usize, uf.find(i as u32) as usize);
                note(&mut uf, rj, ri, "lead_id", 1.0);
            } else {
                by_id.insert(&l.id, i);
            }
            if let Some(e) = &l.contact.email {
                if let Some(&j) = by_email.get(e.as_str()) {
                    let (rj, ri) = (uf.find(j as u32) as usize, uf.find(i as u32) as usize);
                    note(&mut uf, rj, ri, "email", 1.0);
                } else {
                    by_email.insert(e.as_str(), i);
                }
            }
            if let Some(p) = &l.contact.phone {
                if let Some(&j) = by_phone.get(p.as_str()) {
                    let (rj, ri) = (uf.find(j as u32) as usize, uf.find(i as u32) as usize);
                    note(&mut uf, rj, ri, "phone", 1.0);
                } else {
                    by_phone.insert(p.as_str(), i);
                }
            }
        }
    }
    if mapping.fuzzy {
        // Block by company so comparisons stay near-linear.
        let keys: Vec<Option<(String, String)>> = leads
            .par_iter()
            .map(|l| {
                let company = l
                    .company
                    .name
                    .as_deref()
                    .map(company_key)
                    .filter(|k| !k.is_empty())
                    .or_else(|| l.company.domain.as_ref().map(|d| d.to_string()));
                company.zip(person_key(l))
            })
            .collect();
        let mut blocks: FxHashMap<String, Vec<(usize, String)>> = FxHashMap::default();
        for (i, k) in keys.into_iter().enumerate() {
            if let Some((c, p)) = k {
                blocks.entry(c).or_default().push((i, p));
            }
        }
        let mut keys: Vec<&String> = blocks.keys().collect();
        keys.sort();
        for k in keys {
            let members = &blocks[k];
            if members.len() > 2000 {
                continue; // a placeholder company name shared by thousands
            }
            for x in 0..members.len() {
                for y in x + 1..members.len() {
                    let ((a, na), (b, nb)) = (&members[x], &members[y]);
                    let (la, lb) = (&leads[*a], &leads[*b]);
                    let conflicting = |p: Option<&str>, q: Option<&str>| matches!((p, q), (Some(p), Some(q)) if p != q);
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
                    if sim >= mapping.fuzzy_threshold
                        && na.split(' ').next_back().map(|s| s.chars().next())
                            == nb.split(' ').next_back().map(|s| s.chars().next())
                    {
                        let (ra, rb) = (uf.find(*a as u32) as usize, uf.find(*b as u32) as usize);
                        note(&mut uf, ra, rb, "name+company", sim);
                    }
                }
            }
        }
    }
    // Collect clusters in order of first appearance.
    let mut cluster_of: FxHashMap<u32, usize> = FxHashMap::default();
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    for i in 0..n {
        let r = uf.find(i as u32);
        let c = *cluster_of.entry(r).or_insert_with(|| {
            clusters.push(Vec::new());
            clusters.len() - 1
        });
        clusters[c].push(i);
    }
    let source_rank = |l: &Lead| {
        l.source
            .channel
            .as_ref()
            .and_then(|s| mapping.source_priority.iter().position(|p| p == s))
            .unwrap_or(usize::MAX)
    };
    let recency = |l: &Lead| l.updated_at.or(l.created_at).map_or(i64::MIN, |t| t.0);
    let mut slots: Vec<Option<Lead>> = leads.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(clusters.len());
    let mut merges = Vec::new();
    let mut members_out = Vec::with_capacity(clusters.len());
    for mut members in clusters {
        if members.len() == 1 {
            out.push(slots[members[0]].take().unwrap_or_default());
            members_out.push(members);
            continue;
        }
        let root = uf.find(members[0] as u32);
        members.sort_by(|&a, &b| {
            let (la, lb) = (
                slots[a].as_ref().unwrap_or_else(|| unreachable!()),
                slots[b].as_ref().unwrap_or_else(|| unreachable!()),
            );
            source_rank(la)
                .cmp(&source_rank(lb))
                .then_with(|| recency(lb).cmp(&recency(la)))
                .then_with(|| b.cmp(&a))
        });
        let mut survivor = slots[members[0]].take().unwrap_or_default();
        let mut merged_ids = Vec::new();
        for &m in &members[1..] {
            let other = slots[m].take().unwrap_or_default();
            merged_ids.push(other.id.clone());
            fill_missing(&mut survivor, other);
        }
        let (why, conf) = reasons.get(&root).cloned().unwrap_or((vec!["email"], 1.0));
        merges.push(Merge {
            survivor: survivor.id.clone(),
            survivor_row: rows[members[0]],
            merged_rows: members[1..].iter().map(|&m| rows[m]).collect(),
            merged_ids,
            matched_on: why.join(","),
            confidence: conf,
        });
        out.push(survivor);
        members_out.push(members);
    }
    (out, members_out, merges)
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
