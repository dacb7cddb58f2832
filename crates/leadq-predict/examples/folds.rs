//! Prints the fold (0..K) that `leadq train --cv K --seed S` gives each row,
//! so that peers can be evaluated on exactly the same folds
//! (bench/predict/run.sh).
//!
//!     folds K SEED < labels.txt > folds.txt
//!
//! `labels.txt` holds one label per line (`1` or `0`, in the rows' order);
//! `folds.txt` gets one fold number per line.

use std::io::{BufRead, Write};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: folds K SEED < labels.txt");
        std::process::exit(2)
    };
    if args.len() != 3 {
        usage();
    }
    let k: usize = args[1].parse().unwrap_or_else(|_| usage());
    let seed: u64 = args[2].parse().unwrap_or_else(|_| usage());
    let mut y = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("cannot read standard input");
        match line.trim() {
            "" => {}
            "1" => y.push(true),
            "0" => y.push(false),
            other => {
                eprintln!("folds: label '{other}' is neither 1 nor 0");
                std::process::exit(1)
            }
        }
    }
    let folds = leadq_predict::split::stratified_folds(&y, k, seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for f in folds {
        writeln!(out, "{f}").expect("cannot write standard output");
    }
}
