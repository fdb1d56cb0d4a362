//! The text/template lexer (Go's parse/lex.go): text, `{{ }}` actions with `{{-`/`-}}`
//! trim markers, `{{/* */}}` comments. Lexing stops at the first error token.

use super::gofmt::sharp_u;
use super::unicode::{decode_rune, is_digit, is_letter, is_print};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Error,
    Bool,
    /// One printable ASCII character (`,` and the like).
    Char,
    CharConstant,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl Kind {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            Kind::Block
                | Kind::Break
                | Kind::Continue
                | Kind::Dot
                | Kind::Define
                | Kind::Else
                | Kind::End
                | Kind::If
                | Kind::Nil
                | Kind::Range
                | Kind::Template
                | Kind::With
        )
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    pub(crate) pos: usize,
    /// The source text, or the message of an error token.
    pub(crate) val: String,
    pub(crate) line: usize,
}

impl std::fmt::Display for Token {
    /// Go's `item.String()`, used in parse errors.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            Kind::Eof => f.write_str("EOF"),
            Kind::Error => f.write_str(&self.val),
            k if k.is_keyword() => write!(f, "<{}>", self.val),
            _ => {
                if self.val.chars().nth(10).is_some() {
                    let head: String = self.val.chars().take(10).collect();
                    let q = super::strconv::quote(head.as_bytes(), false);
                    write!(f, "{}...", String::from_utf8_lossy(&q))
                } else {
                    let q = super::strconv::quote(self.val.as_bytes(), false);
                    f.write_str(&String::from_utf8_lossy(&q))
                }
            }
        }
    }
}

fn keyword(word: &str) -> Option<Kind> {
    Some(match word {
        "block" => Kind::Block,
        "break" => Kind::Break,
        "continue" => Kind::Continue,
        "define" => Kind::Define,
        "else" => Kind::Else,
        "end" => Kind::End,
        "if" => Kind::If,
        "range" => Kind::Range,
        "nil" => Kind::Nil,
        "template" => Kind::Template,
        "with" => Kind::With,
        _ => return None,
    })
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || is_letter(c) || is_digit(c)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    start: usize,
    /// Width of the last rune read, for `backup`.
    width: usize,
    /// (position, line) of the last line lookup: tokens come in order, so counting
    /// newlines from there keeps lexing linear.
    line_cursor: (usize, usize),
    paren_depth: i64,
    tokens: Vec<Token>,
    /// Tokens allowed (a few more may come: one step emits at most a handful).
    max_tokens: usize,
}

/// Lexes the whole input; the last token is `Eof` or `Error`. `None` when the input has
/// more than about `max_tokens` tokens: lexing stops there, before the memory they take.
pub(crate) fn lex(src: &str, max_tokens: usize) -> Option<Vec<Token>> {
    let mut l = Lexer {
        src,
        pos: 0,
        start: 0,
        width: 0,
        line_cursor: (0, 1),
        paren_depth: 0,
        tokens: Vec::new(),
        max_tokens,
    };
    l.run();
    (l.tokens.len() <= max_tokens).then_some(l.tokens)
}

impl<'a> Lexer<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn line_at(&mut self, pos: usize) -> usize {
        let pos = pos.min(self.src.len());
        let (from, mut line) = self.line_cursor;
        let from = if from <= pos { from } else { 0 };
        if from == 0 {
            line = 1;
        }
        line += self
            .bytes()
            .get(from..pos)
            .unwrap_or_default()
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.line_cursor = (pos, line);
        line
    }

    fn emit(&mut self, kind: Kind) {
        let val = self.src.get(self.start..self.pos).unwrap_or("").to_owned();
        self.emit_val(kind, self.start, val);
        self.start = self.pos;
    }

    fn emit_val(&mut self, kind: Kind, pos: usize, val: String) {
        let line = self.line_at(pos);
        self.tokens.push(Token {
            kind,
            pos,
            val,
            line,
        });
    }

    /// Records an error token; the caller stops lexing.
    fn error(&mut self, msg: String) {
        self.emit_val(Kind::Error, self.start, msg);
    }

    /// The next rune, or None at the end.
    fn next(&mut self) -> Option<char> {
        let rest = self.bytes().get(self.pos..).unwrap_or(&[]);
        if rest.is_empty() {
            self.width = 0;
            return None;
        }
        let (c, w) = decode_rune(rest);
        self.width = w.max(1);
        self.pos += self.width;
        Some(c)
    }

    fn peek(&self) -> Option<char> {
        let rest = self.bytes().get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        Some(decode_rune(rest).0)
    }

    /// Steps back over the last rune read (once per `next`).
    fn backup(&mut self) {
        self.pos -= self.width.min(self.pos);
        self.width = 0;
    }

    fn accept(&mut self, valid: &str) -> bool {
        let c = self.next();
        if c.is_some_and(|c| valid.contains(c)) {
            return true;
        }
        self.backup();
        false
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn too_many(&self) -> bool {
        self.tokens.len() > self.max_tokens
    }

    fn run(&mut self) {
        loop {
            if self.too_many() {
                return;
            }
            match self.rest().find(LEFT) {
                Some(x) => {
                    let delim = self.pos + x;
                    if x > 0 {
                        let mut end = delim;
                        let after = &self.src[delim + LEFT.len()..];
                        if has_left_trim_marker(after) {
                            let text = &self.src[self.pos..delim];
                            end -=
                                text.len() - text.trim_end_matches([' ', '\t', '\r', '\n']).len();
                        }
                        if end > self.pos {
                            let val = self.src[self.pos..end].to_owned();
                            self.emit_val(Kind::Text, self.pos, val);
                        }
                    }
                    self.pos = delim;
                    self.start = delim;
                    if !self.left_delim() {
                        return;
                    }
                }
                None => {
                    if self.pos < self.src.len() {
                        let val = self.src[self.pos..].to_owned();
                        self.emit_val(Kind::Text, self.pos, val);
                    }
                    self.pos = self.src.len();
                    self.start = self.pos;
                    self.emit(Kind::Eof);
                    return;
                }
            }
        }
    }

    /// At `{{`; returns false once an error token has been emitted.
    fn left_delim(&mut self) -> bool {
        let delim_pos = self.pos;
        self.pos += LEFT.len();
        let trim = has_left_trim_marker(self.rest());
        let after = if trim { 2 } else { 0 };
        if self.src[self.pos + after..].starts_with("/*") {
            self.pos += after;
            self.start = self.pos;
            return self.comment();
        }
        self.emit_val(Kind::LeftDelim, delim_pos, LEFT.to_owned());
        self.pos += after;
        self.start = self.pos;
        self.paren_depth = 0;
        self.inside_action()
    }

    fn comment(&mut self) -> bool {
        self.pos += 2;
        let Some(x) = self.rest().find("*/") else {
            self.error("unclosed comment".into());
            return false;
        };
        self.pos += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            self.error("comment ends before closing delimiter".into());
            return false;
        }
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        if trim {
            self.pos += left_trim_len(self.rest());
        }
        self.start = self.pos;
        true
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        if has_right_trim_marker(rest) && rest[2..].starts_with(RIGHT) {
            return (true, true);
        }
        (rest.starts_with(RIGHT), false)
    }

    fn right_delim(&mut self) {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += 2;
        }
        self.start = self.pos;
        self.pos += RIGHT.len();
        self.emit(Kind::RightDelim);
        if trim {
            self.pos += left_trim_len(self.rest());
        }
        self.start = self.pos;
    }

    /// Lexes one action up to and including its right delimiter.
    fn inside_action(&mut self) -> bool {
        loop {
            if self.too_many() {
                return false;
            }
            let (delim, _) = self.at_right_delim();
            if delim {
                if self.paren_depth == 0 {
                    self.right_delim();
                    return true;
                }
                self.error("unclosed left paren".into());
                return false;
            }
            self.start = self.pos;
            let Some(c) = self.next() else {
                self.error("unclosed action".into());
                return false;
            };
            let ok = match c {
                ' ' | '\t' | '\r' | '\n' => {
                    self.backup();
                    self.space();
                    true
                }
                '=' => {
                    self.emit(Kind::Assign);
                    true
                }
                ':' => {
                    if self.next() != Some('=') {
                        self.error("expected :=".into());
                        return false;
                    }
                    self.emit(Kind::Declare);
                    true
                }
                '|' => {
                    self.emit(Kind::Pipe);
                    true
                }
                '"' => self.quote(),
                '`' => self.raw_quote(),
                '$' => self.variable(),
                '\'' => self.char_constant(),
                '.' => {
                    let digit_next = self.bytes().get(self.pos).is_some_and(u8::is_ascii_digit);
                    if self.pos < self.src.len() && !digit_next {
                        self.field_or_variable(Kind::Field)
                    } else {
                        self.backup();
                        self.number()
                    }
                }
                '+' | '-' | '0'..='9' => {
                    self.backup();
                    self.number()
                }
                '(' => {
                    self.paren_depth += 1;
                    self.emit(Kind::LeftParen);
                    true
                }
                ')' => {
                    self.paren_depth -= 1;
                    if self.paren_depth < 0 {
                        self.error("unexpected right paren".into());
                        return false;
                    }
                    self.emit(Kind::RightParen);
                    true
                }
                c if is_alnum(c) => {
                    self.backup();
                    self.identifier()
                }
                c if c.is_ascii() && is_print(c) => {
                    self.emit(Kind::Char);
                    true
                }
                c => {
                    self.error(format!("unrecognized character in action: {}", sharp_u(c)));
                    false
                }
            };
            if !ok {
                return false;
            }
        }
    }

    /// A run of spaces; the last one stays if it starts a ` -}}`.
    fn space(&mut self) {
        let mut n = 0;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii() && is_space(c as u8))
        {
            self.pos += 1;
            n += 1;
        }
        let from = &self.src[self.pos - 1..];
        if has_right_trim_marker(from) && from[2..].starts_with(RIGHT) {
            self.pos -= 1;
            if n == 1 {
                return;
            }
        }
        self.emit(Kind::Space);
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) => {
                matches!(
                    c,
                    ' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '(' | '}'
                )
            }
        }
    }

    fn identifier(&mut self) -> bool {
        loop {
            let c = self.next();
            if c.is_some_and(is_alnum) {
                continue;
            }
            self.backup();
            if !self.at_terminator() {
                let bad = c.unwrap_or('\u{FFFD}');
                self.error(format!("bad character {}", sharp_u(bad)));
                return false;
            }
            let word = &self.src[self.start..self.pos];
            let kind = match keyword(word) {
                Some(k) => k,
                None if word == "true" || word == "false" => Kind::Bool,
                None => Kind::Identifier,
            };
            self.emit(kind);
            return true;
        }
    }

    fn variable(&mut self) -> bool {
        if self.at_terminator() {
            self.emit(Kind::Variable);
            return true;
        }
        self.field_or_variable(Kind::Variable)
    }

    fn field_or_variable(&mut self, kind: Kind) -> bool {
        if self.at_terminator() {
            self.emit(if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            });
            return true;
        }
        let mut last;
        loop {
            last = self.next();
            if !last.is_some_and(is_alnum) {
                self.backup();
                break;
            }
        }
        if !self.at_terminator() {
            let bad = last.unwrap_or('\u{FFFD}');
            self.error(format!("bad character {}", sharp_u(bad)));
            return false;
        }
        self.emit(kind);
        true
    }

    fn char_constant(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => {
                        self.error("unterminated character constant".into());
                        return false;
                    }
                },
                None | Some('\n') => {
                    self.error("unterminated character constant".into());
                    return false;
                }
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::CharConstant);
        true
    }

    fn number(&mut self) -> bool {
        if !self.scan_number() {
            let text = self.src[self.start..self.pos].to_owned();
            let q = super::strconv::quote(text.as_bytes(), false);
            self.error(format!(
                "bad number syntax: {}",
                String::from_utf8_lossy(&q)
            ));
            return false;
        }
        if matches!(self.peek(), Some('+' | '-')) {
            if !self.scan_number() || !self.src[..self.pos].ends_with('i') {
                let text = self.src[self.start..self.pos].to_owned();
                let q = super::strconv::quote(text.as_bytes(), false);
                self.error(format!(
                    "bad number syntax: {}",
                    String::from_utf8_lossy(&q)
                ));
                return false;
            }
            self.emit(Kind::Complex);
        } else {
            self.emit(Kind::Number);
        }
        true
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            self.next();
            return false;
        }
        true
    }

    fn quote(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => {
                        self.error("unterminated quoted string".into());
                        return false;
                    }
                },
                None | Some('\n') => {
                    self.error("unterminated quoted string".into());
                    return false;
                }
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::String);
        true
    }

    fn raw_quote(&mut self) -> bool {
        loop {
            match self.next() {
                None => {
                    self.error("unterminated raw quoted string".into());
                    return false;
                }
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::RawString);
        true
    }
}

fn has_left_trim_marker(s: &str) -> bool {
    matches!(s.as_bytes(), [b'-', c, ..] if is_space(*c))
}

fn has_right_trim_marker(s: &str) -> bool {
    matches!(s.as_bytes(), [c, b'-', ..] if is_space(*c))
}

fn left_trim_len(s: &str) -> usize {
    s.len() - s.trim_start_matches([' ', '\t', '\r', '\n']).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(src: &str) -> Vec<Token> {
        lex(src, usize::MAX).expect("no token limit")
    }

    fn kinds(src: &str) -> Vec<(Kind, String)> {
        all(src).into_iter().map(|t| (t.kind, t.val)).collect()
    }

    #[test]
    fn actions_and_trim_markers() {
        use Kind::{Eof, Field, Identifier, LeftDelim, Number, Pipe, RightDelim, Space, Text};
        let got = kinds("a  {{- .b | upper -}}  c");
        let want = [
            (Text, "a"),
            (LeftDelim, "{{"),
            (Field, ".b"),
            (Space, " "),
            (Pipe, "|"),
            (Space, " "),
            (Identifier, "upper"),
            (RightDelim, "}}"),
            (Text, "c"),
            (Eof, ""),
        ];
        let want: Vec<(Kind, String)> = want.iter().map(|(k, v)| (*k, v.to_string())).collect();
        assert_eq!(got, want);
        assert_eq!(kinds("{{-3}}")[1], (Number, "-3".into()));
        assert_eq!(
            kinds("x {{- /* c */ -}} y"),
            vec![(Text, "x".into()), (Text, "y".into()), (Eof, "".into())]
        );
    }

    #[test]
    fn lexing_stops_past_the_token_limit() {
        // 5 tokens per action: `{{`, `(`, `1`, `)`, `}}`.
        let src = "{{(1)}}".repeat(1000);
        assert_eq!(lex(&src, 5001).map(|t| t.len()), Some(5001));
        assert!(lex(&src, 5000).is_none());
        let deep = format!("{{{{{}", "(".repeat(100_000));
        assert!(lex(&deep, 1000).is_none());
        // A large text is one token.
        assert_eq!(lex(&"x".repeat(1 << 20), 2).map(|t| t.len()), Some(2));
    }

    #[test]
    fn errors_stop_lexing() {
        let last = |s: &str| all(s).pop().map(|t| (t.kind, t.val));
        assert_eq!(last("{{ .a"), Some((Kind::Error, "unclosed action".into())));
        assert_eq!(
            last("{{ \"a }}"),
            Some((Kind::Error, "unterminated quoted string".into()))
        );
        assert_eq!(
            last("{{ ( }}"),
            Some((Kind::Error, "unclosed left paren".into()))
        );
        assert_eq!(
            last("{{ ) }}"),
            Some((Kind::Error, "unexpected right paren".into()))
        );
        assert_eq!(
            last("{{ 3x }}"),
            Some((Kind::Error, "bad number syntax: \"3x\"".into()))
        );
        assert_eq!(
            last("{{ a# }}"),
            Some((Kind::Error, "bad character U+0023 '#'".into()))
        );
        assert_eq!(last("{{ é€ }}").map(|t| t.0), Some(Kind::Error));
        assert_eq!(
            last("{{/* x"),
            Some((Kind::Error, "unclosed comment".into()))
        );
        assert_eq!(
            last("{{/* x */ }}"),
            Some((Kind::Error, "comment ends before closing delimiter".into()))
        );
    }

    #[test]
    fn keywords_and_literals() {
        use Kind::{
            Bool, CharConstant, Declare, Dot, End, Eof, If, LeftDelim, Nil, Number, RawString,
            RightDelim, Space, Variable,
        };
        let got: Vec<Kind> = all(
            "{{ if true }}{{ $x := 'a' }}{{ 0x1p-2 }}{{ `r` }}{{ . }}{{ $ }}{{ nil }}{{ end }}",
        )
        .into_iter()
        .map(|t| t.kind)
        .filter(|k| !matches!(k, Space | LeftDelim | RightDelim))
        .collect();
        assert_eq!(
            got,
            vec![
                If,
                Bool,
                Variable,
                Declare,
                CharConstant,
                Number,
                RawString,
                Dot,
                Variable,
                Nil,
                End,
                Eof
            ]
        );
    }
}
