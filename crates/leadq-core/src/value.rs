//! Dynamically typed values seen by rule expressions.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of a field as declared in a model or fixed by the lead schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Number,
    Bool,
}

impl FieldType {
    pub fn parse(s: &str) -> Option<FieldType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "string" | "str" | "text" | "category" | "categorical" => Some(FieldType::String),
            "number" | "int" | "integer" | "double" | "float" | "numeric" => {
                Some(FieldType::Number)
            }
            "bool" | "boolean" => Some(FieldType::Bool),
            _ => None,
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Bool => "bool",
        })
    }
}

/// An owned field value. Missing values are `Null`; every comparison that
/// touches a `Null` is false, so a rule over a missing field does not fire.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Num(f64),
    Str(CompactString),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Num(n) => ValueRef::Num(*n),
            Value::Str(s) => ValueRef::Str(s.as_str()),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn str(s: &str) -> Value {
        Value::Str(CompactString::new(s))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

/// A borrowed value: what the evaluator passes around so that reading a
/// string field never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ValueRef<'a> {
    #[default]
    Null,
    Bool(bool),
    Num(f64),
    Str(&'a str),
}

impl<'a> ValueRef<'a> {
    pub fn from_opt_str(s: Option<&'a str>) -> ValueRef<'a> {
        s.map_or(ValueRef::Null, ValueRef::Str)
    }
    pub fn from_opt_num(n: Option<f64>) -> ValueRef<'a> {
        n.map_or(ValueRef::Null, ValueRef::Num)
    }
    pub fn from_opt_bool(b: Option<bool>) -> ValueRef<'a> {
        b.map_or(ValueRef::Null, ValueRef::Bool)
    }
    pub fn is_true(self) -> bool {
        matches!(self, ValueRef::Bool(true))
    }
    pub fn to_owned_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Num(n) => Value::Num(n),
            ValueRef::Str(s) => Value::str(s),
        }
    }
}

impl fmt::Display for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueRef::Null => Ok(()),
            ValueRef::Bool(b) => write!(f, "{b}"),
            ValueRef::Num(n) => {
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    write!(f, "{}", *n as i64)
                } else {
                    write!(f, "{n}")
                }
            }
            ValueRef::Str(s) => f.write_str(s),
        }
    }
}
