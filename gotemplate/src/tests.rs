//! Engine-level behaviour, checked against what Go's text/template + Sprig print.

use super::{Engine, Exhausted, Limits};
use std::collections::BTreeMap;

const SECRET_A: &str = "from-data";

fn items() -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    m.insert("a".to_string(), SECRET_A.as_bytes().to_vec());
    m.insert("b".to_string(), b"from-stringData".to_vec());
    m.insert("bin".to_string(), vec![0xff, 0x00, 0xfe]);
    m
}

fn render(t: &str) -> Result<Vec<u8>, String> {
    Engine::new()
        .render("k", t, &items())
        .map_err(|e| e.to_string())
}

fn ok(t: &str) -> String {
    match render(t) {
        Ok(out) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => panic!("{t}: {e}"),
    }
}

fn err(t: &str) -> String {
    match render(t) {
        Ok(out) => panic!(
            "{t}: expected an error, got {:?}",
            String::from_utf8_lossy(&out)
        ),
        Err(e) => {
            assert!(!e.contains('\n'), "one line: {e}");
            e
        }
    }
}

fn table(cases: &[(&str, &str)]) {
    for (t, want) in cases {
        assert_eq!(ok(t), *want, "{t}");
    }
}

#[test]
fn the_upstream_vector_renders() {
    table(&[
        ("{{ .a }}:{{ .b | upper }}", "from-data:FROM-STRINGDATA"),
        (r#"{{ "hello_world-foo" | camelcase }}"#, "HelloWorldFoo"),
        ("no template actions", "no template actions"),
    ]);
}

#[test]
fn missing_keys_follow_go_default() {
    table(&[
        ("{{ .nope }}", "<no value>"),
        ("{{ .nope.deeper }}", "<no value>"),
        (r#"{{ .nope | default "d" }}"#, "d"),
        (r#"{{ index . "nope" }}"#, ""),
        ("{{ $.nope }}", "<no value>"),
        ("{{ with .nope }}x{{ else }}none{{ end }}", "none"),
        ("{{ printf \"%v\" .nope }}", "<nil>"),
    ]);
    assert_eq!(
        err("{{ .a }}:{{ .nope | upper }}"),
        r#"template: k:1:20: executing "k" at <upper>: invalid value; expected string"#
    );
}

#[test]
fn removed_sprig_functions_do_not_exist() {
    for name in ["env", "expandenv", "getHostByName"] {
        assert_eq!(
            err(&format!("{{{{ {name} \"HOME\" }}}}")),
            format!("template: k:1: function \"{name}\" not defined")
        );
        assert!(!super::funcs::names().contains(&name));
    }
    assert_eq!(
        err("x\n{{ .a | nope }}"),
        "template: k:2: function \"nope\" not defined"
    );
}

#[test]
fn control_structures() {
    table(&[
        (
            r#"{{ if eq .a "from-data" }}yes{{ else }}no{{ end }}"#,
            "yes",
        ),
        (
            "{{ if and .a .nope }}x{{ else if or .nope .b }}y{{ end }}",
            "y",
        ),
        (
            r#"{{ and 1 0 2 }}|{{ or 0 "" 3 }}|{{ and 1 2 }}|{{ or 0 "" }}"#,
            "0|3|2|",
        ),
        ("{{ not .nope }} {{ not .a }}", "true false"),
        (
            r#"{{ $x := "v" }}{{ if true }}{{ $x = "w" }}{{ end }}{{ $x }}"#,
            "w",
        ),
        (
            "{{ $x := 1 }}{{ with $x := 2 }}{{ $x }}{{ end }}{{ $x }}",
            "21",
        ),
        (
            r#"{{ range $i, $v := list "a" "b" }}{{ $i }}={{ $v }};{{ end }}"#,
            "0=a;1=b;",
        ),
        ("{{ range $k, $v := . }}{{ $k }};{{ end }}", "a;b;bin;"),
        ("{{ range list }}x{{ else }}empty{{ end }}", "empty"),
        ("{{ range list 1 }}x{{ else }}empty{{ end }}", "x"),
        ("{{ range .nope }}x{{ else }}empty{{ end }}", "empty"),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        (
            "{{ range $i := 5 }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ end }}",
            "02",
        ),
        (
            "{{ range $i, $v := list 1 2 }}{{ range list 1 2 }}{{ if eq . 2 }}{{ break }}{{ end }}{{ $v }}{{ end }}{{ end }}",
            "12",
        ),
        (
            "{{ with .nope }}x{{ else with .a }}{{ . }}{{ end }}",
            "from-data",
        ),
        ("{{ with .a }}{{ . }}{{ end }}", "from-data"),
        (
            r#"{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" .a }}"#,
            "[from-data]",
        ),
        (
            r#"{{ block "b" .b }}<{{ . }}>{{ end }}"#,
            "<from-stringData>",
        ),
        (
            r#"{{ define "t" }}{{ $ }}{{ end }}{{ template "t" }}"#,
            "<no value>",
        ),
        ("a  {{- \" b \" -}}  c", "a b c"),
        ("x{{/* comment */}}y", "xy"),
        ("x {{- /* c */ -}} y", "xy"),
        ("{{ \"a\\tb\" }}{{ `r\\n` }}", "a\tbr\\n"),
        ("{{ (.a) }} {{ (list 1 2) }}", "from-data [1 2]"),
        ("{{ $ := 1 }}", ""),
    ]);
}

#[test]
fn builtins_print_like_go() {
    table(&[
        (
            "{{ 1.0 }} {{ 1e3 }} {{ 0x10 }} {{ 'a' }} {{ -3 }} {{ 1.5 }} {{ 1_000 }}",
            "1 1000 16 97 -3 1.5 1000",
        ),
        (r#"{{ print 1 2 "a" "b" 3 }}"#, "1 2ab3"),
        (r#"{{ println "x" 1 }}"#, "x 1\n"),
        (
            r#"{{ printf "%s=%q %05.1f %x" "k" .a 3.14159 255 }}"#,
            r#"k="from-data" 003.1 ff"#,
        ),
        (
            r#"{{ html "<a>" }} {{ js "'" }} {{ urlquery "a b" }}"#,
            "&lt;a&gt; \\' a+b",
        ),
        (
            r#"{{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1 2 }} {{ ne 1 2 }}"#,
            "true true true false true",
        ),
        (r#"{{ eq .a "x" "from-data" }}"#, "true"),
        ("{{ len .a }} {{ len (list 1 2) }} {{ len . }}", "9 2 3"),
        (
            r#"{{ index (list "x" "y") 1 }} {{ index .a 0 }} {{ index (dict "k" (list 5)) "k" 0 }}"#,
            "y 102 5",
        ),
        (
            "{{ . }}",
            "map[a:from-data b:from-stringData bin:\u{fffd}\u{0}\u{fffd}]",
        ),
    ]);
}

#[test]
fn errors_read_like_go() {
    assert_eq!(
        err("{{ eq 1 1.0 }}"),
        r#"template: k:1:3: executing "k" at <eq 1 1.0>: error calling eq: incompatible types for comparison"#
    );
    assert_eq!(
        err("{{ upper 5 }}"),
        r#"template: k:1:9: executing "k" at <5>: expected string; found 5"#
    );
    assert_eq!(
        err("{{ 5 | upper }}"),
        r#"template: k:1:7: executing "k" at <upper>: wrong type for value; expected string; got int"#
    );
    assert!(
        err(r#"{{ upper "a" "b" }}"#).ends_with("wrong number of args for upper: want 1 got 2")
    );
    assert!(err(r#"{{ .a "x" }}"#).ends_with("a is not a method but has arguments"));
    assert!(err(r#"{{ "x" "y" }}"#).ends_with(r#"can't give argument to non-function "x""#));
    assert!(err("{{ nil }}").ends_with("nil is not a command"));
    assert!(err("{{ .a.b }}").ends_with("can't evaluate field b in type string"));
    assert_eq!(
        err(r#"{{ template "nope" }}"#),
        r#"template: k:1:12: executing "k" at <{{template "nope"}}>: template "nope" not defined"#
    );
    assert_eq!(
        err("a\n  {{ div 1 0 }}"),
        r#"template: k:2:5: executing "k" at <div 1 0>: error calling div: runtime error: integer divide by zero"#
    );
    assert_eq!(
        err(r#"{{ define "d" }}{{ .x.y }}{{ end }}{{ template "d" .a }}"#),
        r#"template: k:1:21: executing "d" at <.x.y>: can't evaluate field x in type string"#
    );
    assert!(
        err(r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#)
            .contains("exceeded maximum template depth")
    );
    assert_eq!(err("{{ if .a }}"), "template: k:1: unexpected EOF");
    assert_eq!(
        err("{{ .a | 3 }}"),
        "template: k:1: non executable command in pipeline stage 2"
    );
}

#[test]
fn errors_never_quote_values() {
    let cases = [
        "{{ fail .a }}",
        "{{ range .a }}{{ end }}",
        "{{ index (list 1) (len .a) }}",
        "{{ eq .a 1 }}",
        "{{ mustFromJson .a }}",
        "{{ mustRegexFind (printf \"%s(\" .a) \"x\" }}",
        "{{ .a | int | upper }}",
        "{{ call .a }}",
        "{{ slice .a 1 }}",
        "{{ first .a }}",
        "{{ dig \"x\" \"d\" .a }}",
        "{{ range $i, $v := len .a }}{{ end }}",
        "{{ lt (list .a) 1 }}",
        "{{ eq (list .a) (list .a) }}",
        "{{ $x := .a }}{{ $x.y }}",
    ];
    for t in cases {
        let e = err(t);
        assert!(
            !e.contains(SECRET_A) && !e.contains("FROM-DATA"),
            "{t}: {e}"
        );
    }
    assert_eq!(
        err(r#"{{ fail "a is required" }}"#),
        r#"template: k:1:3: executing "k" at <fail "a is required">: error calling fail: a is required"#
    );
}

#[test]
fn sprig_strings() {
    table(&[
        (
            r#"{{ trim "  x  " }}|{{ trimAll "$" "$5.00$" }}|{{ trimPrefix "a" "aab" }}|{{ trimSuffix "b" "abb" }}"#,
            "x|5.00|ab|ab",
        ),
        (
            r#"{{ trunc 5 "hello world" }}|{{ trunc -5 "hello world" }}|{{ trunc 50 "hi" }}"#,
            "hello|world|hi",
        ),
        (
            r#"{{ abbrev 5 "hello world" }}|{{ abbrevboth 5 10 "1234 5678 9123" }}"#,
            "he...|...5678...",
        ),
        (
            r#"{{ substr 0 5 "hello world" }}|{{ substr 6 -1 "hello world" }}"#,
            "hello|world",
        ),
        (
            r#"{{ replace " " "-" "a b c" }}|{{ nospace "a b  c" }}|{{ repeat 3 "ab" }}|{{ "ab" | repeat 2 }}"#,
            "a-b-c|abc|ababab|abab",
        ),
        (
            r#"{{ "foobar" | contains "foo" }} {{ hasPrefix "foo" "foobar" }} {{ hasSuffix "x" "foobar" }}"#,
            "true true false",
        ),
        (
            r#"{{ quote "a" 1 .nope }}|{{ squote "a" }}|{{ cat "a" 1 .nope "b" }}"#,
            r#""a" "1"|'a'|a 1 b"#,
        ),
        (
            "{{ indent 2 \"a\\nb\" }}|{{ nindent 2 \"a\" }}",
            "  a\n  b|\n  a",
        ),
        (
            r#"{{ plural "one" "many" 2 }} {{ plural "one" "many" 1 }}"#,
            "many one",
        ),
        (
            r#"{{ snakecase "FirstName" }} {{ kebabcase "HTTPServer" }} {{ camelcase "http_server" }}"#,
            "first_name http-server HttpServer",
        ),
        (
            r#"{{ title "hello world" }}|{{ untitle "Hello World" }}|{{ swapcase "Hi There" }}|{{ initials "John Doe" }}"#,
            "Hello World|hello world|hI tHERE|JD",
        ),
        (r#"{{ upper "héllo" }} {{ lower "ÀB" }}"#, "HÉLLO àb"),
        (
            r#"{{ split "," "a,b" }} {{ (split "," "a,b")._1 }} {{ splitList "," "a,b" | join "-" }} {{ splitn "," 2 "a,b,c" }}"#,
            "map[_0:a _1:b] b a-b map[_0:a _1:b,c]",
        ),
        (
            r#"{{ list 1 "a" .nope | toStrings }} {{ toString 5 }} {{ join "," (list 1 2) }} {{ list "b" "a" | sortAlpha }}"#,
            "[1 a] 5 1,2 [a b]",
        ),
        (
            r#"{{ wrap 5 "hello world foo" }}|{{ wrapWith 3 "+" "abcdef" }}"#,
            "hello\nworld\nfoo|abc+def",
        ),
        (
            r#"{{ base "/a/b.txt" }} {{ dir "/a/b.txt" }} {{ ext "b.tar.gz" }} {{ clean "a//b/../c" }} {{ isAbs "/x" }}"#,
            "b.txt /a .gz a/c true",
        ),
        ("{{ hello }}", "Hello!"),
    ]);
    assert!(
        err(r#"{{ substr 5 2 "hello world" }}"#)
            .ends_with("error calling substr: runtime error: slice bounds out of range")
    );
    assert!(err(r#"{{ repeat -1 "x" }}"#).ends_with("strings: negative Repeat count"));
}

#[test]
fn sprig_encodings_and_digests() {
    table(&[
        (
            r#"{{ "hello" | b64enc }} {{ "aGVsbG8=" | b64dec }} {{ "!" | b64dec }}"#,
            "aGVsbG8= hello illegal base64 data at input byte 0",
        ),
        (
            r#"{{ "hello" | b32enc }} {{ "NBSWY3DP" | b32dec }}"#,
            "NBSWY3DP hello",
        ),
        (
            r#"{{ sha1sum "hello" }}"#,
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
        ),
        (
            r#"{{ sha256sum "hello" }}"#,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ),
        (
            r#"{{ sha512sum "hello" }}"#,
            "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043",
        ),
        (r#"{{ adler32sum "hello" }}"#, "103547413"),
        ("{{ .bin | b64enc }}", "/wD+"),
    ]);
    assert_eq!(render("{{ .bin }}").unwrap(), vec![0xff, 0x00, 0xfe]);
    assert_eq!(
        render(r#"{{ "/wD+" | b64dec }}"#).unwrap(),
        vec![0xff, 0x00, 0xfe]
    );
}

#[test]
fn sprig_json() {
    table(&[
        (
            r#"{{ dict "b" 1 "a" "x<" | toJson }}"#,
            r#"{"a":"x\u003c","b":1}"#,
        ),
        (
            r#"{{ dict "a" (list 1 2) "e" (list) | toPrettyJson }}"#,
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"e\": []\n}",
        ),
        (r#"{{ dict "a" "<" | toRawJson }}"#, r#"{"a":"<"}"#),
        (
            r#"{{ (fromJson "{\"p\": 8080}").p }} {{ (fromJson "{\"p\": 1234567}").p }}"#,
            "8080 1.234567e+06",
        ),
        (r#"{{ fromJson "bad" }}"#, "<no value>"),
        (
            r#"{{ (fromJson "[1, \"a\", null, true, {\"k\": \"\\u00e9\"}]") }}"#,
            "[1 a <nil> true map[k:é]]",
        ),
        (
            "{{ toJson . }}",
            r#"{"a":"from-data","b":"from-stringData","bin":"\ufffd\u0000\ufffd"}"#,
        ),
    ]);
}

#[test]
fn sprig_lists_and_dicts() {
    table(&[
        (
            "{{ list 1 2 3 | first }} {{ list 1 2 3 | last }} {{ list 1 2 3 | rest }} {{ list 1 2 3 | initial }} {{ list 1 2 3 | reverse }}",
            "1 3 [2 3] [1 2] [3 2 1]",
        ),
        (
            "{{ append (list 1 2) 3 }} {{ prepend (list 1) 0 }} {{ uniq (list 1 1 2) }} {{ without (list 1 2 3) 2 }} {{ has 2 (list 1 2) }}",
            "[1 2 3] [0 1] [1 2] [1 3] true",
        ),
        (
            r#"{{ compact (list "" 1 0 "a") }} {{ slice (list 1 2 3) 1 }} {{ slice (list 1 2 3) 0 2 }} {{ concat (list 1) (list 2) }} {{ chunk 2 (list 1 2 3) }}"#,
            "[1 a] [2 3] [1 2] [1 2] [[1 2] [3]]",
        ),
        (
            r#"{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ $d }} {{ get $d "zz" }}|{{ hasKey $d "a" }} {{ keys $d }} {{ values $d }}"#,
            "map[a:1 b:2] |true [a b] [1 2]",
        ),
        (
            r#"{{ pick (dict "a" 1 "b" 2) "a" }} {{ omit (dict "a" 1 "b" 2) "a" }} {{ pluck "a" (dict "a" 1) (dict "a" 2) }} {{ $_ := unset (dict "a" 1) "a" }}"#,
            "map[a:1] map[b:2] [1 2] ",
        ),
        (
            r#"{{ dig "a" "b" "def" (dict "a" (dict "b" "x")) }} {{ dig "a" "z" "def" (dict "a" (dict "b" "x")) }}"#,
            "x def",
        ),
        (
            r#"{{ $d := dict "k" (list 1) }}{{ $c := deepCopy $d }}{{ $_ := set $c "k" 2 }}{{ $d.k }} {{ $c.k }} {{ dict "x" }}"#,
            "[1] 2 map[x:]",
        ),
        (
            r#"{{ empty "" }} {{ coalesce "" .nope "x" }} {{ ternary "y" "n" true }} {{ all 1 "a" }} {{ any 0 "" }} {{ default "d" "" }} {{ default "d" "v" }}"#,
            "true x y true false d v",
        ),
        (
            "{{ list }} {{ first (list) }} {{ rest (list) }}",
            "[] <no value> <no value>",
        ),
    ]);
    assert!(
        err(r#"{{ slice "abc" 1 }}"#).ends_with("list should be type of slice or array but string")
    );
    // The data map is a map[string]string: Sprig's dict functions refuse it, as in Go.
    assert!(err(r#"{{ hasKey . "a" }}"#).ends_with(
        "wrong type for value; expected map[string]interface {}; got map[string]string"
    ));
    assert!(
        err(r#"{{ dig "a" "d" . }}"#).contains("is map[string]string, not map[string]interface {}")
    );
    assert_eq!(
        ok(r#"{{ index (split "," "a") "_9" }}|{{ index (dict) "x" }}"#),
        "|<no value>"
    );
    assert!(err(r#"{{ list 1 2 | append 3 }}"#).ends_with("Cannot push on type int"));
    assert!(
        err(r#"{{ $d := dict }}{{ $_ := set $d "self" $d }}{{ $d }}"#)
            .contains("nested too deeply")
    );
    assert_eq!(
        ok(r#"{{ $d := dict }}{{ $_ := set $d "self" $d }}{{ toJson $d }}"#),
        ""
    );
}

#[test]
fn sprig_math() {
    table(&[
        (
            "{{ add 1 2 3 }} {{ sub 5 2 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 2 }} {{ max 1 5 3 }} {{ min 4 2 8 }}",
            "6 3 24 3 1 5 2",
        ),
        (
            r#"{{ add1 "41" }} {{ atoi "12" }} {{ int "0x10" }} {{ int64 "12.00" }} {{ float64 "1.5" }} {{ atoi "x" }}"#,
            "42 12 16 12 1.5 0",
        ),
        (
            "{{ floor 1.7 }} {{ ceil 1.2 }} {{ round 3.14159 2 }} {{ maxf 1 2.5 }} {{ minf 1 2.5 }}",
            "1 2 3.14 2.5 1",
        ),
        (
            "{{ until 3 }} {{ untilStep 0 10 4 }} {{ until -2 }} {{ seq 3 }}|{{ seq 5 -2 1 }}|{{ seq 2 4 }}",
            "[0 1 2] [0 4 8] [0 -1] 1 2 3|5 3 1|2 3 4",
        ),
        (r#"{{ toDecimal "777" }} {{ len .a | add 1 }}"#, "511 10"),
    ]);
}

#[test]
fn sprig_regex() {
    table(&[
        (
            r#"{{ regexMatch "^[a-z]+-\\d+$" "abc-123" }} {{ regexMatch "(" "x" }}"#,
            "true false",
        ),
        (
            r#"{{ regexFind "[0-9]+" "ab12cd34" }} {{ regexFindAll "[0-9]+" "ab12cd34" -1 }} {{ regexFindAll "[0-9]+" "ab12cd34" 1 }}"#,
            "12 [12 34] [12]",
        ),
        (
            r#"{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }} {{ regexReplaceAllLiteral "a(x*)b" "-ab-axxb-" "${1}" }}"#,
            "-W-xxW- -${1}-${1}-",
        ),
        (
            r#"{{ regexSplit "z+" "pizza" -1 }} {{ regexSplit "z+" "pizza" 1 }} {{ regexQuoteMeta "1.5+x" }}"#,
            r"[pi a] [pizza] 1\.5\+x",
        ),
    ]);
    assert!(
        err(r#"{{ mustRegexMatch "(" "x" }}"#)
            .ends_with("error calling mustRegexMatch: error parsing regexp")
    );
}

#[test]
fn sprig_crypto_and_random() {
    let out =
        ok(r#"{{ htpasswd "admin" "pw" }}|{{ uuidv4 }}|{{ randAlphaNum 12 }}|{{ randNumeric 4 }}"#);
    let parts: Vec<&str> = out.split('|').collect();
    assert!(
        parts[0].starts_with("admin:$2a$10$") && parts[0].len() == "admin:".len() + 60,
        "{out}"
    );
    assert_eq!(parts[1].len(), 36);
    assert!(parts[2].len() == 12 && parts[2].chars().all(|c| c.is_ascii_alphanumeric()));
    assert!(parts[3].len() == 4 && parts[3].chars().all(|c| c.is_ascii_digit()));
    assert!(ok("{{ bcrypt .a }}").starts_with("$2a$10$"));
}

#[test]
fn hostile_templates_hit_limits() {
    assert!(err(r#"{{ repeat 10000000 "x" }}"#).contains("result too large"));
    assert!(
        err("{{ range until 100000 }}xxxxxxxxxxxxxxxxxxxx{{ end }}")
            .contains("more than 1048576 bytes of template output")
    );
    assert!(
        err("{{ range $i := 100000000 }}{{ end }}").contains("more than 1000000 template steps")
    );
    assert!(
        err(r#"{{ $s := repeat 1000000 "x" }}{{ range until 200 }}{{ $_ := upper $s }}{{ end }}"#)
            .contains("more than 67108864 bytes processed by template functions")
    );
    assert!(
        err(&format!(
            "{{{{ {}1{} }}}}",
            "(".repeat(200),
            ")".repeat(200)
        ))
        .contains("max expression depth exceeded")
    );
    assert!(
        err(&format!(
            "{}x{}",
            "{{ if true }}".repeat(150),
            "{{ end }}".repeat(150)
        ))
        .contains("max expression depth exceeded")
    );
    assert!(err(r#"{{ until 100000000 }}"#).contains("result too large"));
    assert!(err(r#"{{ printf "%9999999d" 1 }}"#).contains("result too large"));
    let many = "{{ htpasswd \"u\" \"p\" }}".repeat(9);
    assert!(err(&many).ends_with(
        "executing \"k\" at <htpasswd \"u\" \"p\">: error calling htpasswd: more than 8 bcrypt/htpasswd calls"
    ));
    // Lexing stops once the tokens alone would use up the step budget.
    assert_eq!(
        err(&"{{1}}".repeat(40_000)),
        "template: k: more than 1000000 template steps"
    );
}

/// A renderer's templates share one budget: many small templates cost what one big one
/// may, and the error says which budget ran out.
#[test]
fn renders_of_one_renderer_share_the_budgets() {
    let data = items();
    let tight = Engine::with_limits(Limits {
        max_bcrypt: 2,
        ..Limits::default()
    });
    let mut r = tight.renderer(&data);
    assert!(r.render("a", "{{ bcrypt \"x\" }}").is_ok());
    assert!(r.render("b", "{{ bcrypt \"x\" }}").is_ok());
    let e = r.render("c", "{{ bcrypt \"x\" }}").unwrap_err();
    assert_eq!(e.exhausted(), Some(Exhausted::Bcrypt(2)));
    assert!(e.to_string().starts_with("template: c:1:3: "), "{e}");
    // Other budgets are left: templates without bcrypt still render.
    assert_eq!(r.render("d", "{{ .a | trunc 4 }}").unwrap(), b"from");
    // Each fresh engine render has a budget of its own.
    assert!(tight.render("e", "{{ bcrypt \"x\" }}", &data).is_ok());

    let tight = Engine::with_limits(Limits {
        max_output: 10,
        ..Limits::default()
    });
    let mut r = tight.renderer(&data);
    assert_eq!(r.render("a", "12345").unwrap(), b"12345");
    assert_eq!(r.render("b", "1234").unwrap(), b"1234");
    let e = r.render("c", "12").unwrap_err();
    assert_eq!(e.exhausted(), Some(Exhausted::Output(10)));
    assert_eq!(
        e.to_string(),
        "template: c: more than 10 bytes of template output"
    );

    let tight = Engine::with_limits(Limits {
        max_steps: 200,
        ..Limits::default()
    });
    let mut r = tight.renderer(&data);
    let each = "{{ range until 20 }}{{ end }}";
    let e = (0..20)
        .map(|k| r.render(&format!("t{k}"), each))
        .find_map(Result::err)
        .expect("the steps run out");
    assert_eq!(e.exhausted(), Some(Exhausted::Steps(200)));

    let tight = Engine::with_limits(Limits {
        max_work: 1000,
        ..Limits::default()
    });
    let mut r = tight.renderer(&data);
    let e = (0..100)
        .map(|k| r.render(&format!("t{k}"), "{{ .a | upper | lower }}"))
        .find_map(Result::err)
        .expect("the work runs out");
    assert_eq!(e.exhausted(), Some(Exhausted::Work(1000)));

    // Other failures are not the budget's.
    let mut r = tight.renderer(&data);
    assert_eq!(
        r.render("x", "{{ fail \"no\" }}").unwrap_err().exhausted(),
        None
    );
    assert_eq!(r.render("y", "{{ nope }}").unwrap_err().exhausted(), None);
}

/// Every render sees the data as given: a template cannot change the shared map.
#[test]
fn renders_cannot_change_the_shared_data() {
    let data = items();
    let mut r = Engine::new().renderer(&data);
    let e = r.render("a", r#"{{ set . "a" "changed" }}"#).unwrap_err();
    assert!(
        e.to_string()
            .contains("expected map[string]interface {}; got map[string]string"),
        "{e}"
    );
    let e = r.render("b", r#"{{ unset . "a" }}"#).unwrap_err();
    assert!(e.to_string().contains("got map[string]string"), "{e}");
    assert_eq!(r.render("c", "{{ .a }}").unwrap(), SECRET_A.as_bytes());
}

#[test]
fn deep_but_allowed_templates_fit_a_small_stack() {
    let limit = Limits::default().max_depth;
    let parens = format!(
        "{{{{ {}.a{} }}}}",
        "(".repeat(limit - 3),
        ")".repeat(limit - 3)
    );
    let ifs = format!(
        "{}x{}",
        "{{ if true }}".repeat(limit / 2 - 2),
        "{{ end }}".repeat(limit / 2 - 2)
    );
    let recursion = r#"{{ define "r" }}{{ if . }}{{ template "r" (rest .) }}{{ end }}{{ end }}{{ template "r" (until 200) }}"#;
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let a = render(&parens).map(|v| String::from_utf8_lossy(&v).into_owned());
            let b = render(&ifs).map(|v| String::from_utf8_lossy(&v).into_owned());
            let c = render(recursion);
            (a, b, c)
        })
        .unwrap();
    let (a, b, c) = handle.join().unwrap();
    assert_eq!(a.unwrap(), SECRET_A);
    assert_eq!(b.unwrap(), "x");
    assert!(c.unwrap_err().contains("exceeded maximum template depth"));
}

mod fuzz {
    use super::render;
    use proptest::prelude::*;

    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        ".a",
        ".b",
        ".nope",
        "$x",
        "$",
        ":=",
        "=",
        "|",
        "(",
        ")",
        "\"s\"",
        "`r`",
        "'c'",
        "1",
        "-2",
        "1.5",
        "0x1F",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "nil",
        "true",
        ",",
        "upper",
        "printf",
        "\"%d %s %v\"",
        "index",
        "len",
        "eq",
        "and",
        "or",
        "not",
        "list",
        "dict",
        "set",
        "default",
        "repeat",
        "toJson",
        "fromJson",
        "regexMatch",
        "\"(\"",
        "until",
        "slice",
        "first",
        "b64dec",
        "/*",
        "*/",
        "\n",
        "é",
        "\u{0}",
        "\\",
        "\"t\"",
        "split",
        "int",
        "add",
        "div",
        "0",
        "trunc",
        "substr",
        "camelcase",
        "snakecase",
        "quote",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_text_never_panics(s in "\\PC{0,80}") {
            let _ = render(&s);
        }

        #[test]
        fn random_token_soup_never_panics(idx in proptest::collection::vec(0usize..PIECES.len(), 0..40)) {
            let t: String = idx.iter().map(|i| PIECES[*i]).collect();
            let _ = render(&t);
        }

        #[test]
        fn random_actions_never_panic(idx in proptest::collection::vec(0usize..PIECES.len(), 0..12)) {
            let body: Vec<&str> = idx.iter().map(|i| PIECES[*i]).collect();
            let t = format!("{{{{ {} }}}}", body.join(" "));
            let _ = render(&t);
        }
    }
}

#[test]
fn deeply_nested_values_drop_without_recursion() {
    let t = "{{ $l := list }}{{ $d := dict }}{{ range until 100000 }}{{ $l = list $l }}{{ $d = dict \"k\" $d }}{{ end }}{{ len $l }}";
    let handle = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || render(t).map(|v| String::from_utf8_lossy(&v).into_owned()))
        .unwrap();
    assert_eq!(handle.join().unwrap().unwrap(), "1");
}

/// The README's function table is the registry, no more and no less.
#[test]
fn the_readme_lists_exactly_the_functions_there_are() {
    let readme = include_str!("../README.md");
    let section = readme
        .split("\n## Functions\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Functions section");
    let mut listed: Vec<&str> = section
        .lines()
        .filter(|line| line.starts_with('|'))
        .flat_map(|row| row.split('`').skip(1).step_by(2))
        .collect();
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(listed, super::funcs::names());
}

/// Found by the `template` fuzz target: Go quotes a malformed constant raw, line breaks
/// and all; the error must stay one line.
#[test]
fn errors_escape_line_breaks_from_the_template_text() {
    assert_eq!(
        err("{{ 'a\rb' }}"),
        "template: k:1: malformed character constant: 'a\\rb'"
    );
    assert_eq!(
        err("{{ 'a\u{2028}\u{0b}' }}"),
        "template: k:1: malformed character constant: 'a\\u2028\\u000b'"
    );
}
