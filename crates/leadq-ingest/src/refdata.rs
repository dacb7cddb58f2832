//! Reference data shipped with leadq: countries and their names, free-mail
//! and disposable email domains. Loaded once, on first use.

use leadq_core::CountryCode;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::OnceLock;

const COUNTRIES: &str = include_str!("../data/countries.tsv");
const FREE_MAIL: &str = include_str!("../data/free_email_domains.txt");
const DISPOSABLE: &str = include_str!("../data/disposable_email_domains.txt");

pub struct RefData {
    /// Folded country name or alias (and the ISO code itself) → code.
    countries: FxHashMap<String, CountryCode>,
    regions: FxHashMap<CountryCode, &'static str>,
    free_mail: FxHashSet<&'static str>,
    disposable: FxHashSet<&'static str>,
}

/// Folds a country name for lookup: lower case, letters and digits only,
/// common accents removed, so "U.S.A." and "usa" meet.
pub fn fold_country(name: &str) -> String {
    name.chars()
        .flat_map(|c| c.to_lowercase())
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            other => other,
        })
        .filter(|c| c.is_alphanumeric())
        .collect()
}

fn domain_list(text: &'static str) -> FxHashSet<&'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

impl RefData {
    fn load() -> RefData {
        let mut countries = FxHashMap::default();
        let mut regions = FxHashMap::default();
        for line in COUNTRIES.lines().filter(|l| !l.trim().is_empty()) {
            let mut parts = line.split('\t');
            let (Some(code), Some(region), Some(names)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(code) = CountryCode::parse(code) else {
                continue;
            };
            regions.insert(code, region.trim());
            countries.insert(fold_country(code.as_str()), code);
            for n in names.split('|') {
                countries.insert(fold_country(n), code);
            }
        }
        RefData {
            countries,
            regions,
            free_mail: domain_list(FREE_MAIL),
            disposable: domain_list(DISPOSABLE),
        }
    }

    pub fn get() -> &'static RefData {
        static DATA: OnceLock<RefData> = OnceLock::new();
        DATA.get_or_init(RefData::load)
    }

    /// A country code from a name, alias or code; `None` when unknown.
    pub fn country(&self, raw: &str) -> Option<CountryCode> {
        self.countries.get(&fold_country(raw)).copied()
    }

    pub fn region(&self, code: CountryCode) -> Option<&'static str> {
        self.regions.get(&code).copied()
    }

    pub fn is_free_mail(&self, domain: &str) -> bool {
        self.free_mail.contains(domain) || self.parent_in(domain, &self.free_mail)
    }

    pub fn is_disposable(&self, domain: &str) -> bool {
        self.disposable.contains(domain) || self.parent_in(domain, &self.disposable)
    }

    fn parent_in(&self, domain: &str, set: &FxHashSet<&'static str>) -> bool {
        // Sub-domains of a listed domain (mail.yahoo.co.uk) count too.
        let mut rest = domain;
        while let Some((_, parent)) = rest.split_once('.') {
            if parent.contains('.') && set.contains(parent) {
                return true;
            }
            rest = parent;
        }
        false
    }

    pub fn country_count(&self) -> usize {
        self.regions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_names_and_aliases_map_to_iso_codes() {
        let r = RefData::get();
        assert!(r.country_count() >= 245);
        for (name, code) in [
            ("United States", "US"),
            ("U.S.A.", "US"),
            ("usa", "US"),
            ("UK", "GB"),
            ("Deutschland", "DE"),
            ("de", "DE"),
            ("  India ", "IN"),
            ("España", "ES"),
            ("Espana", "ES"),
        ] {
            assert_eq!(
                r.country(name).map(|c| c.to_string()),
                Some(code.to_string()),
                "{name}"
            );
        }
        assert_eq!(r.country("Asia/Pacific Region"), None);
        assert_eq!(r.region(CountryCode::parse("DE").unwrap()), Some("EMEA"));
    }

    #[test]
    fn free_and_disposable_domains_are_recognised() {
        let r = RefData::get();
        assert!(r.is_free_mail("gmail.com"));
        assert!(!r.is_free_mail("acme.com"));
        assert!(r.is_disposable("mailinator.com"));
        assert!(!r.is_disposable("gmail.com"));
    }
}
