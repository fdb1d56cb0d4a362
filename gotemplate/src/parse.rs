//! The text/template parser (Go's parse/parse.go): pipelines, control structures,
//! `define`/`block`/`template`, variable scoping and the parse-time function check.
//! Errors read `template: NAME:LINE: MESSAGE`.

use super::ast::{
    Action, Arg, Branch, Command, Item, List, Number, Pipe, TemplateCall, is_empty_list,
};
use super::lex::{Kind, Token, lex};
use super::strconv::{parse_float, parse_int, parse_uint, quote, unquote, unquote_char};
use std::collections::{HashMap, HashSet};

/// Every template of one source text, by name.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) trees: HashMap<String, List>,
    /// String literals of the source; `fail` may show a message only if it is one.
    pub(crate) literals: HashSet<Vec<u8>>,
    /// Tokens lexed, charged as steps.
    pub(crate) tokens: u64,
}

/// Why a source did not parse.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Go's parse error, and the tokens lexed.
    Syntax { message: String, tokens: u64 },
    /// More tokens than the step budget has left.
    Tokens,
}

type PResult<T> = Result<T, String>;

/// What an action turned out to be: `{{end}}` and `{{else}}` close a list.
enum Node {
    Item(Item),
    End,
    Else,
}

impl Node {
    fn describe(&self) -> &'static str {
        match self {
            Node::End => "{{end}}",
            Node::Else => "{{else}}",
            Node::Item(_) => "item",
        }
    }
}

struct Parser<'a> {
    name: &'a str,
    tokens: Vec<Token>,
    i: usize,
    furthest: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    max_depth: usize,
    action_line: usize,
    trees: HashMap<String, List>,
    literals: HashSet<Vec<u8>>,
    has_func: &'a dyn Fn(&str) -> bool,
}

/// Parses `src` as the template `name`; `has_func` says which functions exist. Lexing
/// stops past `max_tokens` tokens.
pub(crate) fn parse(
    name: &str,
    src: &str,
    has_func: &dyn Fn(&str) -> bool,
    max_depth: usize,
    max_tokens: u64,
) -> Result<Parsed, Failure> {
    let max_tokens = usize::try_from(max_tokens).unwrap_or(usize::MAX);
    let tokens = lex(src, max_tokens).ok_or(Failure::Tokens)?;
    let count = u64::try_from(tokens.len()).unwrap_or(u64::MAX);
    let mut p = Parser {
        name,
        tokens,
        i: 0,
        furthest: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        depth: 0,
        max_depth,
        action_line: 0,
        trees: HashMap::new(),
        literals: HashSet::new(),
        has_func,
    };
    let syntax = |message| Failure::Syntax {
        message,
        tokens: count,
    };
    let root = p.parse_top().map_err(syntax)?;
    p.add(name, root).map_err(syntax)?;
    Ok(Parsed {
        trees: p.trees,
        literals: p.literals,
        tokens: count,
    })
}

fn quoted(s: &str) -> String {
    String::from_utf8_lossy(&quote(s.as_bytes(), false)).into_owned()
}

impl Parser<'_> {
    fn token(&self, i: usize) -> Token {
        let last = self.tokens.len().saturating_sub(1);
        self.tokens.get(i.min(last)).cloned().unwrap_or(Token {
            kind: Kind::Eof,
            pos: 0,
            val: String::new(),
            line: 1,
        })
    }

    fn next(&mut self) -> Token {
        let t = self.token(self.i);
        self.furthest = self.furthest.max(self.i);
        self.i += 1;
        t
    }

    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    fn peek(&mut self) -> Token {
        let t = self.next();
        self.backup();
        t
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.kind != Kind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn errorf<T>(&self, msg: impl std::fmt::Display) -> PResult<T> {
        let line = self.token(self.furthest).line;
        Err(format!("template: {}:{}: {}", self.name, line, msg))
    }

    fn unexpected<T>(&self, tok: &Token, context: &str) -> PResult<T> {
        if tok.kind == Kind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != tok.line {
                extra = format!(" in action started at {}:{}", self.name, self.action_line);
                if tok.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_owned();
                }
            }
            return self.errorf(format!("{tok}{extra}"));
        }
        self.errorf(format!("unexpected {tok} in {context}"))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Token> {
        let tok = self.next_non_space();
        if tok.kind != kind {
            return self.unexpected(&tok, context);
        }
        Ok(tok)
    }

    fn enter(&mut self) -> PResult<()> {
        if self.depth >= self.max_depth {
            return self.errorf("max expression depth exceeded");
        }
        self.depth += 1;
        Ok(())
    }

    fn add(&mut self, name: &str, list: List) -> PResult<()> {
        match self.trees.get(name) {
            Some(old) if !is_empty_list(old) => {
                if !is_empty_list(&list) {
                    return self.errorf(format!(
                        "template: multiple definition of template {}",
                        quoted(name)
                    ));
                }
            }
            _ => {
                self.trees.insert(name.to_owned(), list);
            }
        }
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<List> {
        let mut nodes = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let save = self.i;
                self.next();
                if self.next_non_space().kind == Kind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Node::Item(item) => nodes.push(item),
                n => return self.errorf(format!("unexpected {}", n.describe())),
            }
        }
        Ok(List { nodes })
    }

    /// A nested tree (`define`, `block`) starts with only `$` and outside any range.
    fn in_new_tree<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let out = f(self);
        self.vars = vars;
        self.range_depth = range_depth;
        out
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let tok = self.next_non_space();
        if tok.kind != Kind::String && tok.kind != Kind::RawString {
            return self.unexpected(&tok, CONTEXT);
        }
        let Some(name) = unquote(&tok.val) else {
            return self.errorf("invalid syntax");
        };
        let name = String::from_utf8_lossy(&name).into_owned();
        self.expect(Kind::RightDelim, CONTEXT)?;
        self.in_new_tree(|p| {
            let (list, end) = p.item_list()?;
            if !matches!(end, Node::End) {
                return p.errorf(format!("unexpected {} in {CONTEXT}", end.describe()));
            }
            p.add(&name, list)
        })
    }

    fn item_list(&mut self) -> PResult<(List, Node)> {
        self.enter()?;
        let mut nodes = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Node::Item(item) => nodes.push(item),
                end => {
                    self.depth -= 1;
                    return Ok((List { nodes }, end));
                }
            }
        }
        self.errorf("unexpected EOF")
    }

    fn text_or_action(&mut self) -> PResult<Node> {
        let tok = self.next_non_space();
        match tok.kind {
            Kind::Text => Ok(Node::Item(Item::Text {
                text: tok.val.into_bytes(),
            })),
            Kind::LeftDelim => {
                self.action_line = tok.line;
                let out = self.action();
                self.action_line = 0;
                out
            }
            _ => self.unexpected(&tok, "input"),
        }
    }

    fn action(&mut self) -> PResult<Node> {
        let tok = self.next_non_space();
        match tok.kind {
            Kind::Block => return self.block_control().map(Node::Item),
            Kind::Break | Kind::Continue => {
                let word = if tok.kind == Kind::Break {
                    "{{break}}"
                } else {
                    "{{continue}}"
                };
                let close = self.next_non_space();
                if close.kind != Kind::RightDelim {
                    return self.unexpected(&close, word);
                }
                if self.range_depth == 0 {
                    return self.errorf(format!("{word} outside {{{{range}}}}"));
                }
                return Ok(Node::Item(if tok.kind == Kind::Break {
                    Item::Break { pos: tok.pos }
                } else {
                    Item::Continue { pos: tok.pos }
                }));
            }
            Kind::Else => {
                let p = self.peek_non_space();
                if p.kind != Kind::If && p.kind != Kind::With {
                    self.expect(Kind::RightDelim, "else")?;
                }
                return Ok(Node::Else);
            }
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Node::End);
            }
            Kind::If => return self.control("if").map(|b| Node::Item(Item::If(b))),
            Kind::Range => return self.control("range").map(|b| Node::Item(Item::Range(b))),
            Kind::With => return self.control("with").map(|b| Node::Item(Item::With(b))),
            Kind::Template => return self.template_control().map(Node::Item),
            _ => {}
        }
        self.backup();
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Node::Item(Item::Action(Action { pos, pipe })))
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        let vars_len = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Node::Else = next {
            let peek = self.peek().kind;
            if context == "if" && peek == Kind::If {
                self.next();
                let nested = self.control("if")?;
                else_list = Some(List {
                    nodes: vec![Item::If(nested)],
                });
            } else if context == "with" && peek == Kind::With {
                self.next();
                let nested = self.control("with")?;
                else_list = Some(List {
                    nodes: vec![Item::With(nested)],
                });
            } else {
                let (l, n) = self.item_list()?;
                if !matches!(n, Node::End) {
                    return self.errorf(format!("expected end; found {}", n.describe()));
                }
                else_list = Some(l);
            }
        }
        self.vars.truncate(vars_len);
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, tok: &Token, context: &str) -> PResult<String> {
        match tok.kind {
            Kind::String | Kind::RawString => match unquote(&tok.val) {
                Some(name) => Ok(String::from_utf8_lossy(&name).into_owned()),
                None => self.errorf("invalid syntax"),
            },
            _ => self.unexpected(tok, context),
        }
    }

    fn block_control(&mut self) -> PResult<Item> {
        const CONTEXT: &str = "block clause";
        let tok = self.next_non_space();
        let name = self.template_name(&tok, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        self.in_new_tree(|p| {
            let (list, end) = p.item_list()?;
            if !matches!(end, Node::End) {
                return p.errorf(format!("unexpected {} in {CONTEXT}", end.describe()));
            }
            p.add(&name, list)
        })?;
        Ok(Item::Template(TemplateCall {
            pos: tok.pos,
            name,
            pipe: Some(pipe),
        }))
    }

    fn template_control(&mut self) -> PResult<Item> {
        const CONTEXT: &str = "template clause";
        let tok = self.next_non_space();
        let name = self.template_name(&tok, CONTEXT)?;
        let pipe = if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, Kind::RightDelim)?)
        } else {
            None
        };
        Ok(Item::Template(TemplateCall {
            pos: tok.pos,
            name,
            pipe,
        }))
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            let save = self.i;
            self.next();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    break;
                }
                Kind::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                            _ => return self.errorf("range can only initialize variables"),
                        }
                    }
                    return self.errorf(format!("too many declarations in {context}"));
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        loop {
            let tok = self.next_non_space();
            if tok.kind == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match tok.kind {
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&tok, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.errorf(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(
                    Arg::Bool { .. }
                        | Arg::Dot { .. }
                        | Arg::Nil { .. }
                        | Arg::Number { .. }
                        | Arg::Str { .. }
                )
            ) {
                return self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                args.push(op);
            }
            let tok = self.next();
            match tok.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return self.unexpected(&tok, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.errorf("empty command");
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let f = self.next().val;
            fields.push(f.trim_start_matches('.').to_owned());
        }
        Ok(Some(match node {
            Arg::Field { mut ident, .. } => {
                ident.extend(fields);
                Arg::Field { pos, ident }
            }
            Arg::Variable { mut ident, .. } => {
                ident.extend(fields);
                Arg::Variable { pos, ident }
            }
            Arg::Bool { .. }
            | Arg::Str { .. }
            | Arg::Number { .. }
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                return self.errorf(format!(
                    "unexpected . after term {}",
                    quoted(&node.to_string())
                ));
            }
            other => Arg::Chain {
                pos,
                node: Box::new(other),
                field: fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let tok = self.next_non_space();
        let pos = tok.pos;
        let arg = match tok.kind {
            Kind::Identifier => {
                if !(self.has_func)(&tok.val) {
                    return self.errorf(format!("function {} not defined", quoted(&tok.val)));
                }
                Arg::Identifier { pos, name: tok.val }
            }
            Kind::Dot => Arg::Dot { pos },
            Kind::Nil => Arg::Nil { pos },
            Kind::Variable => {
                let ident: Vec<String> = tok.val.split('.').map(str::to_owned).collect();
                let var = ident.first().cloned().unwrap_or_default();
                if !self.vars.contains(&var) {
                    return self.errorf(format!("undefined variable {}", quoted(&var)));
                }
                Arg::Variable { pos, ident }
            }
            Kind::Field => Arg::Field {
                pos,
                ident: tok
                    .val
                    .get(1..)
                    .unwrap_or("")
                    .split('.')
                    .map(str::to_owned)
                    .collect(),
            },
            Kind::Bool => Arg::Bool {
                pos,
                value: tok.val == "true",
            },
            Kind::CharConstant | Kind::Complex | Kind::Number => Arg::Number {
                pos,
                number: self.number(&tok)?,
            },
            Kind::LeftParen => {
                self.enter()?;
                let pipe = self.pipeline("parenthesized pipeline", Kind::RightParen)?;
                self.depth -= 1;
                Arg::Pipe(Box::new(pipe))
            }
            Kind::String | Kind::RawString => {
                let Some(value) = unquote(&tok.val) else {
                    return self.errorf("invalid syntax");
                };
                self.literals.insert(value.clone());
                Arg::Str {
                    pos,
                    quoted: tok.val,
                    value,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(arg))
    }

    fn number(&self, tok: &Token) -> PResult<Number> {
        let text = tok.val.as_str();
        if tok.kind == Kind::CharConstant {
            let b = text.as_bytes();
            let parsed = match (b.first(), b.get(1..)) {
                (Some(&q), Some(rest)) => unquote_char(rest, q),
                _ => None,
            };
            let Some((r, _, tail)) = parsed else {
                return self.errorf("invalid syntax");
            };
            if tail != b"'" {
                return self.errorf(format!("malformed character constant: {text}"));
            }
            return Ok(Number {
                text: text.to_owned(),
                int: Some(i64::from(r)),
                uint: Some(u64::from(r)),
                float: Some(f64::from(r)),
                is_rune: true,
            });
        }
        let imaginary = text.ends_with('i') && parse_float(&text[..text.len() - 1]).is_some();
        if tok.kind == Kind::Complex || imaginary {
            return self.errorf(format!(
                "complex constants are not supported: {}",
                quoted(text)
            ));
        }
        let mut uint = parse_uint(text, 0);
        let mut int = parse_int(text, 0);
        if int == Some(0) {
            uint = Some(0);
        }
        let mut float = None;
        if let Some(i) = int {
            float = Some(i as f64);
        } else if let Some(u) = uint {
            float = Some(u as f64);
        } else if let Some(f) = parse_float(text) {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return self.errorf(format!("integer overflow: {}", quoted(text)));
            }
            float = Some(f);
            if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
                && (f as i64) as f64 == f
            {
                int = Some(f as i64);
            }
            if (0.0..1.844_674_407_370_955_2e19).contains(&f) && (f as u64) as f64 == f {
                uint = Some(f as u64);
            }
        }
        if int.is_none() && uint.is_none() && float.is_none() {
            return self.errorf(format!("illegal number syntax: {}", quoted(text)));
        }
        Ok(Number {
            text: text.to_owned(),
            int,
            uint,
            float,
            is_rune: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(name: &str) -> bool {
        matches!(name, "upper" | "printf" | "eq" | "len")
    }

    fn err(src: &str) -> String {
        match parse("t", src, &has, 100, u64::MAX) {
            Err(Failure::Syntax { message, .. }) => message,
            other => panic!("{src}: {other:?}"),
        }
    }

    fn ok(src: &str) -> Parsed {
        parse("t", src, &has, 100, u64::MAX).unwrap_or_else(|e| panic!("{src}: {e:?}"))
    }

    #[test]
    fn structures_round_trip_through_display() {
        let p = ok(
            "a{{ .b | upper }}{{ if eq .x 1 }}y{{ else if .z }}z{{ else }}w{{ end }}{{ range $i, $v := .l }}{{ $v }}{{ end }}",
        );
        let root = &p.trees["t"];
        let text: String = root.to_string();
        assert_eq!(
            text,
            "a{{.b | upper}}{{if eq .x 1}}y{{else}}{{if .z}}z{{else}}w{{end}}{{end}}{{range $i, $v := .l}}{{$v}}{{end}}"
        );
    }

    #[test]
    fn defines_and_blocks_become_trees() {
        let p = ok(r#"{{ define "x" }}X{{ end }}{{ block "y" . }}Y{{ end }}{{ template "x" }}"#);
        assert!(
            p.trees.contains_key("x") && p.trees.contains_key("y") && p.trees.contains_key("t")
        );
        assert!(
            err(r#"{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}"#)
                .contains("multiple definition of template \"x\"")
        );
    }

    #[test]
    fn errors_read_like_go() {
        assert_eq!(
            err("{{ env \"HOME\" }}"),
            "template: t:1: function \"env\" not defined"
        );
        assert_eq!(err("{{ $x }}"), "template: t:1: undefined variable \"$x\"");
        assert_eq!(err("{{ if .a }}"), "template: t:1: unexpected EOF");
        assert_eq!(err("{{ end }}"), "template: t:1: unexpected {{end}}");
        assert_eq!(err("{{ }}"), "template: t:1: missing value for command");
        assert_eq!(
            err("{{ .a | 3 }}"),
            "template: t:1: non executable command in pipeline stage 2"
        );
        assert_eq!(
            err("{{ break }}"),
            "template: t:1: {{break}} outside {{range}}"
        );
        assert_eq!(err("\n{{ .a"), "template: t:2: unclosed action");
        assert_eq!(
            err("{{ 99999999999999999999 }}"),
            "template: t:1: integer overflow: \"99999999999999999999\""
        );
        assert_eq!(
            err("{{ \"a\".b }}"),
            "template: t:1: unexpected . after term \"\\\"a\\\"\""
        );
        assert_eq!(
            err("{{ .a = 1 }}"),
            "template: t:1: unexpected \"=\" in operand"
        );
        assert_eq!(
            err("{{ 'ab' }}"),
            "template: t:1: malformed character constant: 'ab'"
        );
        assert!(
            err(&format!(
                "{{{{ {}1{} }}}}",
                "(".repeat(200),
                ")".repeat(200)
            ))
            .contains("max expression depth exceeded")
        );
    }

    #[test]
    fn variables_are_scoped() {
        ok("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}");
        assert!(
            err("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}")
                .contains("undefined variable \"$y\"")
        );
        assert!(
            err(r#"{{ $z := 1 }}{{ define "d" }}{{ $z }}{{ end }}"#).contains("undefined variable")
        );
    }

    #[test]
    fn numbers_carry_go_kinds() {
        let p = ok("{{ 1.0 }}{{ 0x10 }}{{ 'a' }}{{ 1e3 }}");
        let kinds: Vec<(Option<i64>, Option<f64>)> = p.trees["t"]
            .nodes
            .iter()
            .filter_map(|n| match n {
                Item::Action(a) => match &a.pipe.cmds[0].args[0] {
                    Arg::Number { number, .. } => Some((number.int, number.float)),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Some(1), Some(1.0)),
                (Some(16), Some(16.0)),
                (Some(97), Some(97.0)),
                (Some(1000), Some(1000.0))
            ]
        );
    }
}
