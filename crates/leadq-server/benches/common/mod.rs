//! What the bench binaries share: their argument parsing and the values
//! their generated leads are made of.

#![allow(dead_code)] // each bench uses its own part

/// The value after `name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// [`arg`] parsed, or `default` when absent; a value that does not parse
/// stops the bench naming the flag.
pub fn arg_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match arg(name) {
        Some(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}")),
        None => default,
    }
}

pub const INDUSTRIES: [&str; 5] = [
    "Software",
    "Fintech",
    "Retail",
    "Healthcare",
    "Manufacturing",
];
pub const COUNTRIES: [&str; 5] = ["United States", "Germany", "Japan", "Brazil", "France"];
