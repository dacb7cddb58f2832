//! Account roll-up: the leads of one company domain seen together.

use crate::lead::Lead;
use crate::scoring::{Grade, Score};
use serde::Serialize;
use std::collections::BTreeMap;

/// What an account looks like from its leads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub domain: String,
    pub company: Option<String>,
    pub leads: usize,
    /// The best fit among the account's leads (fit is about the company, so
    /// the best-informed lead speaks for it).
    pub fit: f64,
    pub grade: Grade,
    /// The sum of the leads' engagement: a buying committee shows up as
    /// several engaged people.
    pub engagement: f64,
    pub engaged_leads: usize,
    pub mqls: usize,
    pub best_priority: String,
}

/// Groups leads by company domain (leads without one are left out).
/// `priority_rank` orders priorities so the account shows its best one.
pub fn roll_up(
    leads: &[Lead],
    scores: &[Score],
    priority_rank: impl Fn(&Score) -> u8,
) -> Vec<Account> {
    let mut by_domain: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, l) in leads.iter().enumerate() {
        if let Some(d) = &l.company.domain {
            by_domain.entry(d.as_str()).or_default().push(i);
        }
    }
    by_domain
        .into_iter()
        .map(|(domain, idx)| {
            let fit = idx.iter().map(|&i| scores[i].fit).fold(0.0, f64::max);
            let best = idx
                .iter()
                .copied()
                .min_by_key(|&i| priority_rank(&scores[i]))
                .unwrap_or(idx[0]);
            Account {
                domain: domain.to_string(),
                company: idx
                    .iter()
                    .find_map(|&i| leads[i].company.name.as_ref().map(|n| n.to_string())),
                leads: idx.len(),
                fit,
                grade: idx
                    .iter()
                    .map(|&i| scores[i].grade)
                    .min()
                    .unwrap_or(Grade::D),
                engagement: idx.iter().map(|&i| scores[i].engagement).sum(),
                engaged_leads: idx.iter().filter(|&&i| scores[i].engagement > 0.0).count(),
                mqls: idx.iter().filter(|&&i| scores[i].mql).count(),
                best_priority: scores[best].priority.to_string(),
            }
        })
        .collect()
}
