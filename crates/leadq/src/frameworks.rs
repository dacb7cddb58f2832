//! `leadq frameworks list|show`.

use crate::cli::{FrameworksArgs, FrameworksCommand, UsageError};
use anyhow::Result;
use leadq_core::framework::{self, AnswerType};

pub fn run(args: FrameworksArgs) -> Result<()> {
    match args.command {
        FrameworksCommand::List { json } => {
            let all = framework::built_in();
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(());
            }
            println!("{:<12} {:<10} {:<9} NAME", "KEY", "COLUMNS", "CRITERIA");
            for f in all {
                println!(
                    "{:<12} {:<10} {:<9} {}",
                    f.key,
                    format!("{}.*", f.column_prefix()),
                    f.criteria.len(),
                    f.name
                );
            }
            Ok(())
        }
        FrameworksCommand::Show { name, json } => {
            let f = framework::find(&name, &[]).map_err(|e| UsageError(e.to_string()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&f)?);
                return Ok(());
            }
            println!("{} — {}", f.key, f.name);
            if !f.description.is_empty() {
                println!("{}", f.description);
            }
            match f.min_satisfied {
                Some(n) => println!("Qualified when at least {n} of {} criteria are satisfied; any disqualifying answer disqualifies.", f.criteria.len()),
                None => println!("Qualified when every required criterion is satisfied; any disqualifying answer disqualifies."),
            }
            println!(
                "Answers are read from input columns {}.<criterion>.\n",
                f.column_prefix()
            );
            for (i, c) in f.criteria.iter().enumerate() {
                let req = if c.required { "required" } else { "optional" };
                println!(
                    "{}. {} ({}.{}, {req})",
                    i + 1,
                    c.name,
                    f.column_prefix(),
                    c.key
                );
                let answer = match c.answer {
                    AnswerType::Choice => format!("one of: {}", c.options.join(", ")),
                    AnswerType::YesNo => "yes / no".into(),
                    AnswerType::Number => match c.min {
                        Some(m) => format!("a number (satisfied from {m})"),
                        None => "a number".into(),
                    },
                    AnswerType::Text => "free text (satisfied when given)".into(),
                };
                println!("   answer: {answer}");
                if !c.satisfied_by.is_empty() {
                    println!("   satisfied by: {}", c.satisfied_by.join(", "));
                }
                if !c.disqualified_by.is_empty() {
                    println!("   disqualified by: {}", c.disqualified_by.join(", "));
                }
                for (qi, q) in c.questions.iter().enumerate() {
                    println!("   Q{}: {q}", qi + 1);
                }
                if !c.help.is_empty() {
                    println!("   good answer: {}", c.help);
                }
            }
            Ok(())
        }
    }
}
