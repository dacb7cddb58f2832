//! Rule conditions in CEL (Common Expression Language): parsed by the `cel`
//! crate's parser, type-checked against the fields a rule may read, and
//! compiled into a small tree that evaluates over borrowed values without
//! allocating.
//!
//! The supported subset: literals, field names (`employees`,
//! `custom.total_visits`, `bant.status`, `event.url`), `has(...)`, `!`, `&&`,
//! `||`, `? :`, comparisons, arithmetic, `in` with a list literal,
//! `contains`/`startsWith`/`endsWith`/`matches` on strings, `size()`,
//! `int()`/`double()` on numbers. A missing field is `null`; any comparison
//! that touches `null` other than `==`/`!=` is false, and a condition that
//! is not exactly `true` does not fire.

use crate::value::{FieldType, ValueRef};
use cel::common::ast::{Expr as Ast, IdedExpr, LiteralValue, SourceInfo};
use compact_str::CompactString;
use regex::Regex;
use std::fmt;

/// Where a compiled field reference reads its value from. The evaluation
/// context ([`Env`]) provides each of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Lead(crate::lead::LeadField),
    Custom(usize),
    Answer(usize),
    FrameworkStatus(usize),
    FrameworkSatisfied(usize),
    FrameworkUnknown(usize),
    EventKind,
    EventProp(usize),
    Fit,
    Grade,
    Engagement,
    Band,
    Priority,
    Score,
}

/// Provides slot values during evaluation.
pub trait Env {
    fn get(&self, slot: Slot) -> ValueRef<'_>;
}

/// The static type of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Num,
    Str,
    Null,
}

impl From<FieldType> for Ty {
    fn from(t: FieldType) -> Ty {
        match t {
            FieldType::String => Ty::Str,
            FieldType::Number => Ty::Num,
            FieldType::Bool => Ty::Bool,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ty::Bool => "bool",
            Ty::Num => "number",
            Ty::Str => "string",
            Ty::Null => "null",
        })
    }
}

/// A compile error with its position inside the expression (1-based line
/// and column, counted in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at {}:{})", self.message, self.line, self.column)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrOp {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
enum Const {
    Null,
    Bool(bool),
    Num(f64),
    Str(CompactString),
}

impl Const {
    fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Const::Null => ValueRef::Null,
            Const::Bool(b) => ValueRef::Bool(*b),
            Const::Num(n) => ValueRef::Num(*n),
            Const::Str(s) => ValueRef::Str(s),
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    Const(Const),
    Slot(Slot),
    Has(Slot),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    Arith(ArithOp, Box<Node>, Box<Node>),
    Neg(Box<Node>),
    In(Box<Node>, Vec<Const>),
    Str(StrOp, Box<Node>, Box<Node>),
    Matches(Box<Node>, Box<Regex>),
    Size(Box<Node>),
}

/// A compiled, type-checked expression.
#[derive(Debug, Clone)]
pub struct Program {
    root: Node,
    ty: Ty,
    source: String,
}

/// Resolves a dotted field path (`["custom", "total_visits"]`) to a slot and
/// its type, or explains why it cannot.
pub trait Resolver {
    fn resolve(&mut self, path: &[&str]) -> Result<(Slot, FieldType), String>;
}

impl Program {
    /// Parses and type-checks `source`. `expect` is the type the caller needs
    /// (a condition is `Bool`, a `value` is `Num`).
    pub fn compile(
        source: &str,
        expect: Ty,
        resolver: &mut dyn Resolver,
    ) -> Result<Program, CompileError> {
        let (ast, info) = parse(source)?;
        let mut c = Compiler {
            info: &info,
            source,
            resolver,
        };
        let (root, ty) = c.compile(&ast)?;
        if ty != expect && !(ty == Ty::Null) {
            let (line, column) = c.position(ast.id);
            return Err(CompileError {
                message: format!("the expression is a {ty}, but a {expect} is needed here"),
                line,
                column,
            });
        }
        Ok(Program {
            root,
            ty,
            source: source.to_string(),
        })
    }

    pub fn ty(&self) -> Ty {
        self.ty
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates to a value; strings borrow from the environment or program.
    #[inline]
    pub fn eval<'a, E: Env + ?Sized>(&'a self, env: &'a E) -> ValueRef<'a> {
        eval(&self.root, env)
    }

    /// True only when the expression evaluates to exactly `true`.
    #[inline]
    pub fn test<E: Env + ?Sized>(&self, env: &E) -> bool {
        eval(&self.root, env).is_true()
    }

    /// Evaluates a numeric expression; `None` when the result is missing.
    #[inline]
    pub fn number<E: Env + ?Sized>(&self, env: &E) -> Option<f64> {
        match eval(&self.root, env) {
            ValueRef::Num(n) if n.is_finite() => Some(n),
            _ => None,
        }
    }

    /// Every slot the expression reads.
    pub fn slots(&self) -> Vec<Slot> {
        fn walk(n: &Node, out: &mut Vec<Slot>) {
            match n {
                Node::Const(_) => {}
                Node::Slot(s) | Node::Has(s) => out.push(*s),
                Node::Not(a)
                | Node::Neg(a)
                | Node::Size(a)
                | Node::In(a, _)
                | Node::Matches(a, _) => walk(a, out),
                Node::And(a, b)
                | Node::Or(a, b)
                | Node::Cmp(_, a, b)
                | Node::Arith(_, a, b)
                | Node::Str(_, a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Node::Cond(a, b, c) => {
                    walk(a, out);
                    walk(b, out);
                    walk(c, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }
}

fn parse(source: &str) -> Result<(IdedExpr, SourceInfo), CompileError> {
    if source.trim().is_empty() {
        return Err(CompileError {
            message: "the expression is empty".into(),
            line: 1,
            column: 1,
        });
    }
    cel::parser::Parser::new()
        .parse_with_source_info(source)
        .map_err(|errs| match errs.errors.into_iter().next() {
            Some(e) => CompileError {
                message: format!("syntax error: {}", e.msg),
                line: e.pos.0.max(1) as usize,
                // The parser's columns are already 1-based.
                column: e.pos.1.max(1) as usize,
            },
            None => CompileError {
                message: "syntax error".into(),
                line: 1,
                column: 1,
            },
        })
}

struct Compiler<'a> {
    info: &'a SourceInfo,
    source: &'a str,
    resolver: &'a mut dyn Resolver,
}

type Compiled = (Node, Ty);

impl Compiler<'_> {
    fn position(&self, id: u64) -> (usize, usize) {
        let Some((start, _)) = self.info.offset_for(id) else {
            return (1, 1);
        };
        // The parser gives byte offsets; walk the source to a line and a
        // column counted in characters.
        let mut line = 1;
        let mut column = 1;
        for (i, ch) in self.source.char_indices() {
            if i as u32 >= start {
                break;
            }
            if ch == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        (line, column)
    }

    fn err<T>(&self, id: u64, message: impl Into<String>) -> Result<T, CompileError> {
        let (line, column) = self.position(id);
        Err(CompileError {
            message: message.into(),
            line,
            column,
        })
    }

    fn compile(&mut self, e: &IdedExpr) -> Result<Compiled, CompileError> {
        match &e.expr {
            Ast::Literal(lit) => Ok(match lit {
                LiteralValue::Boolean(b) => (Node::Const(Const::Bool(*b.inner())), Ty::Bool),
                LiteralValue::Int(i) => (Node::Const(Const::Num(*i.inner() as f64)), Ty::Num),
                LiteralValue::UInt(u) => (Node::Const(Const::Num(*u.inner() as f64)), Ty::Num),
                LiteralValue::Double(d) => (Node::Const(Const::Num(*d.inner())), Ty::Num),
                LiteralValue::String(s) => (
                    Node::Const(Const::Str(CompactString::new(s.inner()))),
                    Ty::Str,
                ),
                LiteralValue::Null => (Node::Const(Const::Null), Ty::Null),
                LiteralValue::Bytes(_) => {
                    return self.err(e.id, "bytes literals are not supported")
                }
            }),
            Ast::Ident(_) | Ast::Select(_) => {
                if let Ast::Select(sel) = &e.expr {
                    if sel.test {
                        let path = self.path(&sel.operand).map(|mut p| {
                            p.push(sel.field.clone());
                            p
                        });
                        let Some(path) = path else {
                            return self
                                .err(e.id, "has() needs a field name such as has(custom.budget)");
                        };
                        let (slot, _) = self.resolve(e.id, &path)?;
                        return Ok((Node::Has(slot), Ty::Bool));
                    }
                }
                let Some(path) = self.path(e) else {
                    return self.err(e.id, "only field names can be selected with '.'");
                };
                let (slot, ty) = self.resolve(e.id, &path)?;
                Ok((Node::Slot(slot), ty.into()))
            }
            Ast::Call(call) => self.call(e.id, &call.func_name, call.target.as_deref(), &call.args),
            Ast::List(_) => self.err(e.id, "a list literal can only stand on the right of 'in'"),
            Ast::Map(_) | Ast::Struct(_) => {
                self.err(e.id, "maps and messages are not supported in rules")
            }
            Ast::Comprehension(_) => self.err(
                e.id,
                "macros such as all/exists/map/filter are not supported in rules",
            ),
            Ast::Unspecified => self.err(e.id, "incomplete expression"),
        }
    }

    fn path(&self, e: &IdedExpr) -> Option<Vec<String>> {
        match &e.expr {
            Ast::Ident(name) => Some(vec![name.clone()]),
            Ast::Select(sel) if !sel.test => {
                let mut p = self.path(&sel.operand)?;
                p.push(sel.field.clone());
                Some(p)
            }
            _ => None,
        }
    }

    fn resolve(&mut self, id: u64, path: &[String]) -> Result<(Slot, FieldType), CompileError> {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        match self.resolver.resolve(&parts) {
            Ok(r) => Ok(r),
            Err(msg) => self.err(id, msg),
        }
    }

    fn call(
        &mut self,
        id: u64,
        name: &str,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
    ) -> Result<Compiled, CompileError> {
        use cel::common::ast::operators as op;
        let binary = |op_name: &str| op_name == name && args.len() == 2 && target.is_none();
        if binary(op::LOGICAL_AND) || binary(op::LOGICAL_OR) {
            let (a, ta) = self.compile(&args[0])?;
            let (b, tb) = self.compile(&args[1])?;
            self.expect_bool(&args[0], ta, name)?;
            self.expect_bool(&args[1], tb, name)?;
            let node = if name == op::LOGICAL_AND {
                Node::And(a.into(), b.into())
            } else {
                Node::Or(a.into(), b.into())
            };
            return Ok((node, Ty::Bool));
        }
        if name == op::LOGICAL_NOT && args.len() == 1 {
            let (a, ta) = self.compile(&args[0])?;
            self.expect_bool(&args[0], ta, "!")?;
            return Ok((Node::Not(a.into()), Ty::Bool));
        }
        if name == op::NEGATE && args.len() == 1 {
            let (a, ta) = self.compile(&args[0])?;
            self.expect_num(&args[0], ta, "-")?;
            return Ok((Node::Neg(a.into()), Ty::Num));
        }
        if name == op::CONDITIONAL && args.len() == 3 {
            let (c, tc) = self.compile(&args[0])?;
            self.expect_bool(&args[0], tc, "?:")?;
            let (a, ta) = self.compile(&args[1])?;
            let (b, tb) = self.compile(&args[2])?;
            let ty = unify(ta, tb).ok_or(()).or_else(|_| {
                self.err(
                    args[2].id,
                    format!("both branches of ?: must have one type, found {ta} and {tb}"),
                )
            })?;
            return Ok((Node::Cond(c.into(), a.into(), b.into()), ty));
        }
        let cmp = [
            (op::EQUALS, CmpOp::Eq),
            (op::NOT_EQUALS, CmpOp::Ne),
            (op::LESS, CmpOp::Lt),
            (op::LESS_EQUALS, CmpOp::Le),
            (op::GREATER, CmpOp::Gt),
            (op::GREATER_EQUALS, CmpOp::Ge),
        ];
        if let Some((_, cop)) = cmp.iter().find(|(n, _)| binary(n)) {
            let (a, ta) = self.compile(&args[0])?;
            let (b, tb) = self.compile(&args[1])?;
            let ordered = !matches!(cop, CmpOp::Eq | CmpOp::Ne);
            let ok = match (ta, tb) {
                (Ty::Null, _) | (_, Ty::Null) => !ordered,
                (x, y) if x == y => !ordered || x != Ty::Bool,
                _ => false,
            };
            if !ok {
                return self.err(id, format!("cannot compare a {ta} with a {tb}"));
            }
            return Ok((Node::Cmp(*cop, a.into(), b.into()), Ty::Bool));
        }
        let arith = [
            (op::ADD, ArithOp::Add),
            (op::SUBSTRACT, ArithOp::Sub),
            (op::MULTIPLY, ArithOp::Mul),
            (op::DIVIDE, ArithOp::Div),
            (op::MODULO, ArithOp::Rem),
        ];
        if let Some((sym, aop)) = arith.iter().find(|(n, _)| binary(n)) {
            let (a, ta) = self.compile(&args[0])?;
            let (b, tb) = self.compile(&args[1])?;
            let sym = sym.trim_matches('_');
            self.expect_num(&args[0], ta, sym)?;
            self.expect_num(&args[1], tb, sym)?;
            return Ok((Node::Arith(*aop, a.into(), b.into()), Ty::Num));
        }
        if binary(op::IN) {
            let (a, ta) = self.compile(&args[0])?;
            let Ast::List(list) = &args[1].expr else {
                return self.err(
                    args[1].id,
                    "the right side of 'in' must be a list literal such as [\"a\", \"b\"]",
                );
            };
            let mut items = Vec::with_capacity(list.elements.len());
            for el in &list.elements {
                let (n, t) = self.compile(el)?;
                let Node::Const(c) = n else {
                    return self.err(el.id, "list items must be literals");
                };
                if ta != Ty::Null && t != ta && t != Ty::Null {
                    return self.err(
                        el.id,
                        format!("list item is a {t} but the left side of 'in' is a {ta}"),
                    );
                }
                items.push(c);
            }
            return Ok((Node::In(a.into(), items), Ty::Bool));
        }
        // Functions: receiver-style (`x.contains("a")`) or global (`size(x)`).
        let (recv, rest): (Option<&IdedExpr>, &[IdedExpr]) = match target {
            Some(t) => (Some(t), args),
            None => (args.first(), args.get(1..).unwrap_or(&[])),
        };
        match (name, recv, rest.len()) {
            ("contains" | "startsWith" | "endsWith", Some(r), 1) => {
                let (a, ta) = self.compile(r)?;
                let (b, tb) = self.compile(&rest[0])?;
                self.expect_str(r, ta, name)?;
                self.expect_str(&rest[0], tb, name)?;
                let sop = match name {
                    "contains" => StrOp::Contains,
                    "startsWith" => StrOp::StartsWith,
                    _ => StrOp::EndsWith,
                };
                Ok((Node::Str(sop, a.into(), b.into()), Ty::Bool))
            }
            ("matches", Some(r), 1) => {
                let (a, ta) = self.compile(r)?;
                self.expect_str(r, ta, name)?;
                let Ast::Literal(LiteralValue::String(pat)) = &rest[0].expr else {
                    return self.err(rest[0].id, "matches() needs a string literal pattern");
                };
                match Regex::new(pat.inner()) {
                    Ok(re) => Ok((Node::Matches(a.into(), Box::new(re)), Ty::Bool)),
                    Err(e) => self.err(rest[0].id, format!("invalid regular expression: {e}")),
                }
            }
            ("size", Some(r), 0) => {
                let (a, ta) = self.compile(r)?;
                self.expect_str(r, ta, name)?;
                Ok((Node::Size(a.into()), Ty::Num))
            }
            ("int" | "double", Some(r), 0) => {
                let (a, ta) = self.compile(r)?;
                self.expect_num(r, ta, name)?;
                if name == "int" {
                    // Truncation toward zero, as CEL's int() does for doubles.
                    let trunc = Node::Arith(
                        ArithOp::Sub,
                        Box::new(a.clone()),
                        Box::new(Node::Arith(
                            ArithOp::Rem,
                            Box::new(a),
                            Box::new(Node::Const(Const::Num(1.0))),
                        )),
                    );
                    return Ok((trunc, Ty::Num));
                }
                Ok((a, Ty::Num))
            }
            ("has", _, _) => self.err(id, "has() needs a field name such as has(custom.budget)"),
            _ => {
                let shown = name.trim_matches('_').replace('_', " ");
                self.err(
                    id,
                    format!(
                        "unknown function or operator '{shown}' with {} argument(s)",
                        args.len() + target.is_some() as usize
                    ),
                )
            }
        }
    }

    fn expect(&self, e: &IdedExpr, got: Ty, want: Ty, what: &str) -> Result<(), CompileError> {
        if got == want || got == Ty::Null {
            Ok(())
        } else {
            self.err(e.id, format!("'{what}' needs a {want}, found a {got}"))
        }
    }
    fn expect_bool(&self, e: &IdedExpr, got: Ty, what: &str) -> Result<(), CompileError> {
        self.expect(e, got, Ty::Bool, what.trim_matches('_'))
    }
    fn expect_num(&self, e: &IdedExpr, got: Ty, what: &str) -> Result<(), CompileError> {
        self.expect(e, got, Ty::Num, what)
    }
    fn expect_str(&self, e: &IdedExpr, got: Ty, what: &str) -> Result<(), CompileError> {
        self.expect(e, got, Ty::Str, what)
    }
}

fn unify(a: Ty, b: Ty) -> Option<Ty> {
    match (a, b) {
        (x, y) if x == y => Some(x),
        (Ty::Null, y) => Some(y),
        (x, Ty::Null) => Some(x),
        _ => None,
    }
}

fn eval<'a, E: Env + ?Sized>(n: &'a Node, env: &'a E) -> ValueRef<'a> {
    use ValueRef as V;
    match n {
        Node::Const(c) => c.as_ref(),
        Node::Slot(s) => env.get(*s),
        Node::Has(s) => V::Bool(!matches!(env.get(*s), V::Null)),
        Node::Not(a) => match eval(a, env) {
            V::Bool(b) => V::Bool(!b),
            _ => V::Null,
        },
        Node::And(a, b) => match eval(a, env) {
            V::Bool(false) => V::Bool(false),
            va => match (va, eval(b, env)) {
                (_, V::Bool(false)) => V::Bool(false),
                (V::Bool(true), V::Bool(true)) => V::Bool(true),
                _ => V::Null,
            },
        },
        Node::Or(a, b) => match eval(a, env) {
            V::Bool(true) => V::Bool(true),
            va => match (va, eval(b, env)) {
                (_, V::Bool(true)) => V::Bool(true),
                (V::Bool(false), V::Bool(false)) => V::Bool(false),
                _ => V::Null,
            },
        },
        Node::Cond(c, a, b) => match eval(c, env) {
            V::Bool(true) => eval(a, env),
            V::Bool(false) => eval(b, env),
            _ => V::Null,
        },
        Node::Cmp(op, a, b) => {
            let (x, y) = (eval(a, env), eval(b, env));
            V::Bool(match op {
                CmpOp::Eq => x == y,
                CmpOp::Ne => x != y,
                _ => {
                    let ord = match (x, y) {
                        (V::Num(p), V::Num(q)) => p.partial_cmp(&q),
                        (V::Str(p), V::Str(q)) => Some(p.cmp(q)),
                        _ => None,
                    };
                    match ord {
                        None => false,
                        Some(o) => match op {
                            CmpOp::Lt => o.is_lt(),
                            CmpOp::Le => o.is_le(),
                            CmpOp::Gt => o.is_gt(),
                            _ => o.is_ge(),
                        },
                    }
                }
            })
        }
        Node::Arith(op, a, b) => match (eval(a, env), eval(b, env)) {
            (V::Num(x), V::Num(y)) => {
                let r = match op {
                    ArithOp::Add => x + y,
                    ArithOp::Sub => x - y,
                    ArithOp::Mul => x * y,
                    ArithOp::Div => x / y,
                    ArithOp::Rem => x % y,
                };
                if r.is_finite() {
                    V::Num(r)
                } else {
                    V::Null
                }
            }
            _ => V::Null,
        },
        Node::Neg(a) => match eval(a, env) {
            V::Num(x) => V::Num(-x),
            _ => V::Null,
        },
        Node::In(a, items) => {
            let x = eval(a, env);
            if matches!(x, V::Null) {
                return V::Bool(false);
            }
            V::Bool(items.iter().any(|c| c.as_ref() == x))
        }
        Node::Str(op, a, b) => match (eval(a, env), eval(b, env)) {
            (V::Str(x), V::Str(y)) => V::Bool(match op {
                StrOp::Contains => x.contains(y),
                StrOp::StartsWith => x.starts_with(y),
                StrOp::EndsWith => x.ends_with(y),
            }),
            _ => V::Bool(false),
        },
        Node::Matches(a, re) => match eval(a, env) {
            V::Str(x) => V::Bool(re.is_match(x)),
            _ => V::Bool(false),
        },
        Node::Size(a) => match eval(a, env) {
            V::Str(x) => V::Num(x.chars().count() as f64),
            _ => V::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::LeadField;

    struct Fields;
    impl Resolver for Fields {
        fn resolve(&mut self, path: &[&str]) -> Result<(Slot, FieldType), String> {
            match path {
                [name] => LeadField::by_name(name)
                    .map(|f| (Slot::Lead(f), f.field_type()))
                    .ok_or_else(|| format!("unknown field '{name}'")),
                ["custom", "visits"] => Ok((Slot::Custom(0), FieldType::Number)),
                other => Err(format!("unknown field '{}'", other.join("."))),
            }
        }
    }

    struct Row<'a> {
        employees: Option<f64>,
        industry: Option<&'a str>,
        visits: Option<f64>,
    }
    impl Env for Row<'_> {
        fn get(&self, slot: Slot) -> ValueRef<'_> {
            match slot {
                Slot::Lead(LeadField::Employees) => ValueRef::from_opt_num(self.employees),
                Slot::Lead(LeadField::Industry) => ValueRef::from_opt_str(self.industry),
                Slot::Custom(0) => ValueRef::from_opt_num(self.visits),
                _ => ValueRef::Null,
            }
        }
    }

    fn compile(src: &str) -> Result<Program, CompileError> {
        Program::compile(src, Ty::Bool, &mut Fields)
    }

    fn row(employees: Option<f64>, industry: Option<&str>, visits: Option<f64>) -> Row<'_> {
        Row {
            employees,
            industry,
            visits,
        }
    }

    #[test]
    fn conditions_evaluate_over_fields() {
        let p = compile(r#"employees >= 200 && industry in ["software", "fintech"]"#).unwrap();
        assert!(p.test(&row(Some(500.0), Some("software"), None)));
        assert!(!p.test(&row(Some(50.0), Some("software"), None)));
        assert!(!p.test(&row(Some(500.0), Some("retail"), None)));
    }

    #[test]
    fn a_missing_field_makes_a_comparison_false() {
        let p = compile("employees > 10").unwrap();
        assert!(!p.test(&row(None, None, None)));
        let q = compile("!(employees > 10)").unwrap();
        assert!(
            q.test(&row(None, None, None)),
            "a comparison on null is false, so its negation is true"
        );
        let h = compile("has(custom.visits) && custom.visits * 2 >= 10").unwrap();
        assert!(h.test(&row(None, None, Some(5.0))));
        assert!(!h.test(&row(None, None, None)));
    }

    #[test]
    fn string_functions_and_ternaries_work() {
        let p = compile(
            r#"industry.startsWith("soft") && (employees > 100 ? true : industry.contains("war"))"#,
        )
        .unwrap();
        assert!(p.test(&row(Some(10.0), Some("software"), None)));
        let m = compile(r#"industry.matches("^(soft|hard)ware$") && size(industry) == 8"#).unwrap();
        assert!(m.test(&row(None, Some("hardware"), None)));
        assert!(!m.test(&row(None, Some("hardwares"), None)));
    }

    #[test]
    fn an_unknown_field_is_rejected_with_its_position() {
        let err = compile("employees > 10 && industy == \"x\"").unwrap_err();
        assert!(err.message.contains("unknown field 'industy'"), "{err}");
        assert_eq!((err.line, err.column), (1, 19));
    }

    #[test]
    fn a_type_error_is_rejected_with_its_position() {
        let err = compile("industry > 10").unwrap_err();
        assert!(
            err.message
                .contains("cannot compare a string with a number"),
            "{err}"
        );
        let err = compile("employees + 1").unwrap_err();
        assert!(err.message.contains("a bool is needed"), "{err}");
        let err = compile(r#"employees in ["a"]"#).unwrap_err();
        assert!(err.message.contains("list item is a string"), "{err}");
        assert_eq!(err.column, 15);
    }

    #[test]
    fn a_syntax_error_is_rejected_with_its_position() {
        let err = compile("employees >= && 1").unwrap_err();
        assert!(err.message.starts_with("syntax error"), "{err}");
        assert_eq!(err.line, 1);
        assert_eq!(err.column, 14, "{err}");
    }

    #[test]
    fn macros_and_maps_are_refused() {
        assert!(compile("[1,2].all(x, x > 0)").is_err());
        assert!(compile("{'a': 1}['a'] == 1").is_err());
    }

    #[test]
    fn numeric_values_evaluate_to_numbers() {
        let p = Program::compile("custom.visits * 2 + 1", Ty::Num, &mut Fields).unwrap();
        assert_eq!(p.number(&row(None, None, Some(3.0))), Some(7.0));
        assert_eq!(p.number(&row(None, None, None)), None);
        let t = Program::compile("int(custom.visits / 2)", Ty::Num, &mut Fields).unwrap();
        assert_eq!(t.number(&row(None, None, Some(7.0))), Some(3.0));
    }
}
