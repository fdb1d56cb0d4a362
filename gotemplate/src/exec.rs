//! The text/template executor (Go's exec.go): variables and scopes, pipelines with the
//! previous value as final argument, Go's argument typing, lazy `and`/`or`, `range`
//! with `break`/`continue`, `template` calls, `missingkey=default`. Every loop step,
//! nesting level and output byte counts against the render's limits.

use super::Exhausted;
use super::ast::{Arg, Branch, Command, Item, List, Number, Pipe, TemplateCall};
use super::funcs::{self, Ctx, Func, P};
use super::gofmt::{self, FmtError};
use super::parse::Parsed;
use super::strconv::quote;
use super::value::Value;

type R<T> = Result<T, String>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// The node being executed, for the `file:line:col` and `<context>` of errors.
#[derive(Clone, Copy)]
enum At<'a> {
    None,
    Arg(&'a Arg),
    Pipe(&'a Pipe),
    Cmd(&'a Command),
    Item(&'a Item),
}

pub(crate) struct Exec<'a, 'c, 'm> {
    parsed: &'a Parsed,
    src: &'a str,
    parse_name: &'a str,
    name: &'a str,
    vars: Vec<(&'a str, Value)>,
    at: At<'a>,
    out: Vec<u8>,
    depth: usize,
    ctx: &'m mut Ctx<'c>,
}

/// Runs the template `name` over `data`, drawing on the budgets in `ctx`.
pub(crate) fn execute(
    parsed: &Parsed,
    src: &str,
    name: &str,
    data: Value,
    ctx: &mut Ctx<'_>,
) -> R<Vec<u8>> {
    let Some(root) = parsed.trees.get(name) else {
        return Err(format!(
            "template: {name}: {} is an incomplete or empty template",
            quoted(name)
        ));
    };
    let mut ex = Exec {
        parsed,
        src,
        parse_name: name,
        name,
        vars: vec![("$", data.clone())],
        at: At::None,
        out: Vec::new(),
        depth: 0,
        ctx,
    };
    ex.walk_list(&data, root)?;
    Ok(std::mem::take(&mut ex.out))
}

fn quoted(s: &str) -> String {
    String::from_utf8_lossy(&quote(s.as_bytes(), false)).into_owned()
}

impl<'a> Exec<'a, '_, '_> {
    /// Go's errorf: `template: NAME:LINE:COL: executing "T" at <NODE>: MSG`.
    fn error(&self, msg: impl std::fmt::Display) -> String {
        let node = match self.at {
            At::None => None,
            At::Arg(a) => Some((a.pos(), a.to_string())),
            At::Pipe(p) => Some((p.pos, p.to_string())),
            At::Cmd(c) => Some((c.pos, c.to_string())),
            At::Item(i) => item_pos(i).map(|pos| (pos, i.to_string())),
        };
        let Some((pos, context)) = node else {
            return format!("template: {}: {msg}", self.name);
        };
        let before = self.src.get(..pos).unwrap_or(self.src);
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => pos - (nl + 1),
            None => pos,
        };
        let context = context.replace('\n', "\\n").replace('\r', "\\r");
        format!(
            "template: {}:{line}:{col}: executing {} at <{context}>: {msg}",
            self.parse_name,
            quoted(self.name)
        )
    }

    fn step(&mut self) -> R<()> {
        self.ctx.spent.steps = self.ctx.spent.steps.saturating_add(1);
        if self.ctx.spent.steps > self.ctx.limits.max_steps {
            let message = self
                .ctx
                .exhaust(Exhausted::Steps(self.ctx.limits.max_steps));
            return Err(self.error(message));
        }
        Ok(())
    }

    /// Output this render may still write: the shared output budget less what earlier
    /// renders and this one wrote.
    fn room(&self) -> usize {
        self.ctx
            .limits
            .max_output
            .saturating_sub(self.ctx.spent.output)
            .saturating_sub(self.out.len())
    }

    fn output_exhausted(&mut self) -> String {
        let message = self
            .ctx
            .exhaust(Exhausted::Output(self.ctx.limits.max_output));
        self.error(message)
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > self.ctx.limits.max_depth {
            return Err(self.error(format!(
                "exceeded maximum nesting depth ({})",
                self.ctx.limits.max_depth
            )));
        }
        Ok(())
    }

    fn write(&mut self, b: &[u8]) -> R<()> {
        if b.len() > self.room() {
            return Err(self.output_exhausted());
        }
        self.out.extend_from_slice(b);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'a List) -> R<Flow> {
        self.enter()?;
        for item in &list.nodes {
            let flow = self.walk(dot, item)?;
            if flow != Flow::Normal {
                self.depth -= 1;
                return Ok(flow);
            }
        }
        self.depth -= 1;
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, item: &'a Item) -> R<Flow> {
        self.step()?;
        self.at = At::Item(item);
        match item {
            Item::Text { text } => {
                self.write(text)?;
                Ok(Flow::Normal)
            }
            Item::Action(a) => {
                let v = self.eval_pipeline(dot, &a.pipe)?;
                if a.pipe.decl.is_empty() {
                    self.at = At::Item(item);
                    self.print_value(&v)?;
                }
                Ok(Flow::Normal)
            }
            Item::If(b) => self.walk_if_or_with(false, dot, b),
            Item::With(b) => self.walk_if_or_with(true, dot, b),
            Item::Range(b) => self.walk_range(dot, b, item),
            Item::Template(t) => self.walk_template(dot, t, item),
            Item::Break { .. } => Ok(Flow::Break),
            Item::Continue { .. } => Ok(Flow::Continue),
        }
    }

    fn print_value(&mut self, v: &Value) -> R<()> {
        if let Value::Missing = v {
            return self.write(b"<no value>");
        }
        match gofmt::sprint_one(v, self.room()) {
            Ok(text) => self.write(&text),
            Err(FmtError::TooLarge) => Err(self.output_exhausted()),
            Err(FmtError::TooDeep) => Err(self.error("value nested too deeply to print")),
        }
    }

    fn walk_if_or_with(&mut self, is_with: bool, dot: &Value, b: &'a Branch) -> R<Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let flow = if val.truth() {
            if is_with {
                self.walk_list(&val, &b.list)?
            } else {
                self.walk_list(dot, &b.list)?
            }
        } else if let Some(e) = &b.else_list {
            self.walk_list(dot, e)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn set_top_var(&mut self, n: usize, v: Value) {
        if let Some(slot) = self
            .vars
            .len()
            .checked_sub(n)
            .and_then(|i| self.vars.get_mut(i))
        {
            slot.1 = v;
        }
    }

    fn set_var(&mut self, name: &str, v: Value) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.error(format!("undefined variable: {name}"))),
        }
    }

    fn var_value(&self, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.error(format!("undefined variable: {name}"))),
        }
    }

    fn one_iteration(&mut self, b: &'a Branch, index: Value, elem: Value, mark: usize) -> R<Flow> {
        self.step()?;
        let decl = &b.pipe.decl;
        if let Some(first) = decl.first() {
            if b.pipe.is_assign {
                let v = if decl.len() > 1 {
                    index.clone()
                } else {
                    elem.clone()
                };
                self.set_var(first, v)?;
            } else {
                self.set_top_var(1, elem.clone());
            }
        }
        if let Some(second) = decl.get(1) {
            if b.pipe.is_assign {
                self.set_var(second, elem.clone())?;
            } else {
                self.set_top_var(2, index);
            }
        }
        let flow = self.walk_list(&elem, &b.list);
        self.vars.truncate(mark);
        flow
    }

    fn walk_range(&mut self, dot: &Value, b: &'a Branch, item: &'a Item) -> R<Flow> {
        self.at = At::Item(item);
        let mark0 = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let ran = match &val {
            Value::List(l) if !l.is_empty() => {
                for (k, elem) in l.iter().enumerate() {
                    if self.one_iteration(b, Value::Int(k as i64), elem.clone(), mark)?
                        == Flow::Break
                    {
                        break;
                    }
                }
                true
            }
            Value::Map(m) if m.len() > 0 => {
                for (k, v) in m.entries() {
                    if self.one_iteration(b, Value::str(k), v, mark)? == Flow::Break {
                        break;
                    }
                }
                true
            }
            Value::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    self.at = At::Item(item);
                    return Err(
                        self.error("can't use an int to iterate over more than one variable")
                    );
                }
                for v in 0..*n {
                    if self.one_iteration(b, Value::Missing, Value::Int(v), mark)? == Flow::Break {
                        break;
                    }
                }
                *n > 0
            }
            Value::List(_) | Value::Map(_) | Value::Missing | Value::Nil => false,
            other => {
                self.at = At::Item(item);
                return Err(self.error(format!(
                    "range can't iterate over a value of type {}",
                    other.type_name()
                )));
            }
        };
        let flow = match (&b.else_list, ran) {
            (Some(e), false) => self.walk_list(dot, e)?,
            _ => Flow::Normal,
        };
        self.vars.truncate(mark0);
        Ok(flow)
    }

    fn walk_template(&mut self, dot: &Value, t: &'a TemplateCall, item: &'a Item) -> R<Flow> {
        self.at = At::Item(item);
        let Some(tree) = self.parsed.trees.get(&t.name) else {
            return Err(self.error(format!("template {} not defined", quoted(&t.name))));
        };
        if self.depth + 1 >= self.ctx.limits.max_depth {
            return Err(self.error(format!(
                "exceeded maximum template depth ({})",
                self.ctx.limits.max_depth
            )));
        }
        let new_dot = match &t.pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Missing,
        };
        let vars = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
        let name = std::mem::replace(&mut self.name, t.name.as_str());
        let flow = self.walk_list(&new_dot, tree);
        self.vars = vars;
        self.name = name;
        flow.map(|_| Flow::Normal)
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'a Pipe) -> R<Value> {
        self.enter()?;
        self.at = At::Pipe(pipe);
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            // A nil interface{} result is Go's invalid value once it leaves a command.
            value = Some(match v {
                Value::Nil => Value::Missing,
                v => v,
            });
        }
        let value = value.unwrap_or(Value::Missing);
        for var in &pipe.decl {
            if pipe.is_assign {
                self.set_var(var, value.clone())?;
            } else {
                self.vars.push((var.as_str(), value.clone()));
            }
        }
        self.depth -= 1;
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<Value>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            let first = args.first().map(ToString::to_string).unwrap_or_default();
            return Err(self.error(format!("can't give argument to non-function {first}")));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'a Command, fin: Option<Value>) -> R<Value> {
        self.step()?;
        let Some(first) = cmd.args.first() else {
            return Err(self.error("empty command"));
        };
        match first {
            Arg::Field { .. } => return self.eval_field_node(dot, first, &cmd.args, fin),
            Arg::Chain { .. } => return self.eval_chain_node(dot, first, &cmd.args, fin),
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, name, Some(cmd), &cmd.args, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable { .. } => return self.eval_variable_node(dot, first, &cmd.args, fin),
            _ => {}
        }
        self.at = At::Arg(first);
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.error("nil is not a command")),
            Arg::Number { number, .. } => self.ideal_constant(first, number),
            Arg::Str { value, .. } => Ok(Value::str(value)),
            _ => Err(self.error(format!(
                "can't evaluate command {}",
                quoted(&first.to_string())
            ))),
        }
    }

    /// A number literal where no type is wanted: float if it looks like one, else int.
    fn ideal_constant(&mut self, node: &'a Arg, n: &Number) -> R<Value> {
        self.at = At::Arg(node);
        let t = n.text.as_bytes();
        let hex_int =
            matches!(t, [b'0', x, _, ..] if (x | 0x20) == b'x') && !n.text.contains(['p', 'P']);
        if let Some(f) = n.float
            && !hex_int
            && !n.is_rune
            && n.text.contains(['.', 'e', 'E', 'p', 'P'])
        {
            return Ok(Value::Float(f));
        }
        if let Some(i) = n.int {
            return Ok(Value::Int(i));
        }
        if n.uint.is_some() {
            return Err(self.error(format!("{} overflows int", n.text)));
        }
        Ok(Value::Missing)
    }

    fn eval_field_node(
        &mut self,
        dot: &Value,
        node: &'a Arg,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = At::Arg(node);
        let Arg::Field { ident, .. } = node else {
            return Ok(Value::Missing);
        };
        self.eval_field_chain(dot.clone(), ident, args, fin)
    }

    fn eval_chain_node(
        &mut self,
        dot: &Value,
        node: &'a Arg,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = At::Arg(node);
        let Arg::Chain {
            node: inner, field, ..
        } = node
        else {
            return Ok(Value::Missing);
        };
        if field.is_empty() {
            return Err(self.error("internal error: no fields in evalChainNode"));
        }
        if let Arg::Nil { .. } = inner.as_ref() {
            return Err(self.error(format!("indirection through explicit nil in {node}")));
        }
        let receiver = self.eval_arg_raw(dot, inner)?;
        self.at = At::Arg(node);
        self.eval_field_chain(receiver, field, args, fin)
    }

    fn eval_variable_node(
        &mut self,
        _dot: &Value,
        node: &'a Arg,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = At::Arg(node);
        let Arg::Variable { ident, .. } = node else {
            return Ok(Value::Missing);
        };
        let value = self.var_value(ident.first().map_or("", String::as_str))?;
        if ident.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(value, ident.get(1..).unwrap_or_default(), args, fin)
    }

    fn eval_field_chain(
        &mut self,
        receiver: Value,
        ident: &[String],
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let Some((last, init)) = ident.split_last() else {
            return Ok(receiver);
        };
        let mut recv = receiver;
        for id in init {
            recv = self.eval_field(id, &[], None, recv)?;
        }
        self.eval_field(last, args, fin, recv)
    }

    fn eval_field(
        &mut self,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
        receiver: Value,
    ) -> R<Value> {
        match receiver {
            Value::Missing => Ok(Value::Missing),
            Value::Nil => Err(self.error(format!("nil pointer evaluating interface {{}}.{name}"))),
            Value::Map(m) => {
                if args.len() > 1 || fin.is_some() {
                    return Err(self.error(format!("{name} is not a method but has arguments")));
                }
                Ok(m.get(name.as_bytes()).unwrap_or(Value::Missing))
            }
            other => Err(self.error(format!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            ))),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        node: &'a Arg,
        name: &str,
        cmd: Option<&'a Command>,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = At::Arg(node);
        let Some(f) = funcs::lookup(name) else {
            return Err(self.error(format!("{} is not a defined function", quoted(name))));
        };
        if name == "and" || name == "or" {
            return self.eval_and_or(dot, name, args, fin);
        }
        self.eval_call(dot, f, node, cmd, name, args, fin)
    }

    fn eval_and_or(
        &mut self,
        dot: &Value,
        name: &str,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let rest = args.get(1..).unwrap_or(&[]);
        if rest.is_empty() && fin.is_none() {
            return Err(self.error(format!(
                "wrong number of args for {name}: want at least 1 got 0"
            )));
        }
        let mut v = Value::Missing;
        for a in rest {
            v = self.eval_arg(dot, P::Value, a)?;
            if v.truth() == (name == "or") {
                return Ok(v);
            }
        }
        if let Some(f) = fin {
            v = self.validate(f, P::Value)?;
        }
        Ok(v)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_call(
        &mut self,
        dot: &Value,
        f: &Func,
        node: &'a Arg,
        cmd: Option<&'a Command>,
        name: &str,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let args = args.get(1..).unwrap_or(&[]);
        let num_in = args.len() + usize::from(fin.is_some());
        let fixed = f.params.len();
        match f.variadic {
            Some(_) if num_in < fixed => {
                return Err(self.error(format!(
                    "wrong number of args for {name}: want at least {fixed} got {}",
                    args.len()
                )));
            }
            None if num_in != fixed => {
                return Err(self.error(format!(
                    "wrong number of args for {name}: want {fixed} got {num_in}"
                )));
            }
            _ => {}
        }
        let param = |k: usize| f.params.get(k).copied().or(f.variadic).unwrap_or(P::Any);
        let mut argv = Vec::with_capacity(num_in);
        for (k, a) in args.iter().enumerate() {
            argv.push(self.eval_arg(dot, param(k), a)?);
        }
        if let Some(v) = fin {
            let typ = param(num_in - 1);
            argv.push(self.validate(v, typ)?);
        }
        self.step()?;
        let size: usize = argv
            .iter()
            .map(Value::shallow_size)
            .fold(0, usize::saturating_add);
        let result = self
            .ctx
            .charge(size)
            .and_then(|()| (f.call)(self.ctx, &argv));
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                self.at = cmd.map_or(At::Arg(node), At::Cmd);
                Err(self.error(format!("error calling {name}: {e}")))
            }
        }
    }

    /// An argument's value with no type wanted (the receiver of a chain).
    fn eval_arg_raw(&mut self, dot: &Value, node: &'a Arg) -> R<Value> {
        self.at = At::Arg(node);
        match node {
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Field { .. } => self.eval_field_node(dot, node, std::slice::from_ref(node), None),
            Arg::Variable { .. } => self.eval_variable_node(dot, node, &[], None),
            Arg::Pipe(p) => self.eval_pipeline(dot, p),
            Arg::Identifier { name, .. } => self.eval_function(dot, node, name, None, &[], None),
            Arg::Chain { .. } => self.eval_chain_node(dot, node, &[], None),
            _ => self.eval_arg(dot, P::Any, node),
        }
    }

    fn eval_arg(&mut self, dot: &Value, typ: P, node: &'a Arg) -> R<Value> {
        self.at = At::Arg(node);
        let v = match node {
            Arg::Dot { .. } => dot.clone(),
            Arg::Nil { .. } => {
                return match typ {
                    P::Any | P::Map => Ok(Value::Nil),
                    P::Value => Ok(Value::Missing),
                    _ => Err(self.error(format!("cannot assign nil to {}", typ.go_name()))),
                };
            }
            Arg::Field { .. } => {
                self.eval_field_node(dot, node, std::slice::from_ref(node), None)?
            }
            Arg::Variable { .. } => self.eval_variable_node(dot, node, &[], None)?,
            Arg::Pipe(p) => self.eval_pipeline(dot, p)?,
            Arg::Identifier { name, .. } => self.eval_function(dot, node, name, None, &[], None)?,
            Arg::Chain { .. } => self.eval_chain_node(dot, node, &[], None)?,
            Arg::Bool { value, .. } => {
                return match typ {
                    P::Bool | P::Any | P::Value => Ok(Value::Bool(*value)),
                    _ => Err(self.literal_mismatch(typ, node)),
                };
            }
            Arg::Number { number, .. } => {
                return match typ {
                    P::Int => match number.int {
                        Some(i) => Ok(Value::Int(i)),
                        None => Err(self.error(format!("expected integer; found {node}"))),
                    },
                    P::Float => match number.float {
                        Some(f) => Ok(Value::Float(f)),
                        None => Err(self.error(format!("expected float; found {node}"))),
                    },
                    P::Any | P::Value => self.ideal_constant(node, number),
                    _ => Err(self.literal_mismatch(typ, node)),
                };
            }
            Arg::Str { value, .. } => {
                return match typ {
                    P::Str | P::Any | P::Value => Ok(Value::str(value)),
                    _ => Err(self.literal_mismatch(typ, node)),
                };
            }
        };
        self.validate(v, typ)
    }

    fn literal_mismatch(&self, typ: P, node: &Arg) -> String {
        match typ {
            P::Bool => self.error(format!("expected bool; found {node}")),
            P::Int => self.error(format!("expected integer; found {node}")),
            P::Float => self.error(format!("expected float; found {node}")),
            P::Str => self.error(format!("expected string; found {node}")),
            _ => self.error(format!(
                "can't handle {node} for arg of type {}",
                typ.go_name()
            )),
        }
    }

    /// Go's validateType: a missing value is nil for interfaces and maps, an error for
    /// the basic types; otherwise types must match.
    fn validate(&self, v: Value, typ: P) -> R<Value> {
        match (typ, v) {
            (P::Value, v) => Ok(v),
            (P::Any, Value::Missing) => Ok(Value::Nil),
            (P::Any, v) => Ok(v),
            (P::Map, Value::Missing | Value::Nil) => Ok(Value::Nil),
            (_, Value::Missing) => {
                Err(self.error(format!("invalid value; expected {}", typ.go_name())))
            }
            (P::Str, v @ Value::Str(_))
            | (P::Int, v @ Value::Int(_))
            | (P::Float, v @ Value::Float(_))
            | (P::Bool, v @ Value::Bool(_)) => Ok(v),
            // map[string]string (the data map, `split`) is not a map[string]interface{}.
            (P::Map, Value::Map(m)) if !m.strings => Ok(Value::Map(m)),
            (typ, v) => {
                let got = if let Value::Nil = v {
                    "interface {}"
                } else {
                    v.type_name()
                };
                Err(self.error(format!(
                    "wrong type for value; expected {}; got {got}",
                    typ.go_name()
                )))
            }
        }
    }
}

fn item_pos(i: &Item) -> Option<usize> {
    match i {
        Item::Text { .. } => None,
        Item::Action(a) => Some(a.pos),
        Item::If(b) | Item::Range(b) | Item::With(b) => Some(b.pos),
        Item::Template(t) => Some(t.pos),
        Item::Break { pos } | Item::Continue { pos } => Some(*pos),
    }
}
