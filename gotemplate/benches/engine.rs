// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Template engine benchmarks: parsing and executing typical `spec.template.data` values,
//! one SealedSecret's worth of them through one `Renderer`, and hostile objects that run
//! out of the shared budget. See docs/benchmarks.md for the figures.
//!
//! `cargo bench -p gotemplate --bench engine [-- FILTER]`

use criterion::{Criterion, Throughput};
use gotemplate::{Engine, Exhausted};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

/// The decrypted items a typical database SealedSecret holds.
fn items() -> BTreeMap<String, Vec<u8>> {
    [
        ("user", "app"),
        ("password", "correct horse battery staple"),
        ("host", "db.prod.svc.cluster.local"),
        ("replicas", "db-1,db-2,db-3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
    .collect()
}

const DSN: &str =
    "postgres://{{ .user }}:{{ .password | urlquery }}@{{ .host }}:5432/app?sslmode=require";

/// About 1 KiB of configuration with conditionals, a loop and Sprig string functions.
const CONFIG: &str = r#"[database]
{{- /* rendered by the controller */}}
user = {{ .user | quote }}
password = {{ .password | quote }}
host = {{ .host }}
{{- if .port }}
port = {{ .port }}
{{- else }}
port = 5432
{{- end }}
{{- range $i, $r := splitList "," .replicas }}
replica.{{ $i }} = {{ $r | trim | upper }}
{{- end }}
auth = {{ printf "%s:%s" .user .password | b64enc }}
checksum = {{ .password | sha256sum | trunc 16 }}
[pool]
size = {{ add 2 3 | mul 4 }}
name = {{ .user | title }}-{{ .host | splitList "." | first }}
"#;

/// A SealedSecret of `count` values `text`, rendered until the shared budget runs out;
/// the error proves the budget stopped it.
fn render_until_exhausted(count: usize, text: &str, data: &BTreeMap<String, Vec<u8>>) -> Exhausted {
    let mut renderer = Engine::new().renderer(data);
    for k in 0..count {
        if let Err(e) = renderer.render(&format!("v{k:04}"), text) {
            return e.exhausted().expect("a budget ran out");
        }
    }
    panic!("{count} values of {text:?} fit the budget");
}

fn bench_typical(c: &mut Criterion) {
    let data = items();
    let engine = Engine::new();
    let mut g = c.benchmark_group("typical");
    g.throughput(Throughput::Elements(1));
    g.bench_function("dsn", |b| {
        b.iter(|| engine.render("dsn", black_box(DSN), &data).expect("dsn"))
    });
    g.bench_function("config_1KiB", |b| {
        b.iter(|| {
            engine
                .render("app.ini", black_box(CONFIG), &data)
                .expect("config")
        })
    });
    g.bench_function("literal_1KiB", |b| {
        let text = "x".repeat(1024);
        b.iter(|| {
            engine
                .render("lit", black_box(&text), &data)
                .expect("literal")
        })
    });
    // One SealedSecret with 20 such values: one renderer, the data map built once.
    g.throughput(Throughput::Elements(20));
    g.bench_function("object_20_values", |b| {
        b.iter(|| {
            let mut r = engine.renderer(&data);
            for k in 0..10 {
                r.render(&format!("dsn{k}"), DSN).expect("dsn");
                r.render(&format!("ini{k}"), CONFIG).expect("config");
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("bcrypt");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("one_hash", |b| {
        b.iter(|| {
            engine
                .render("h", r#"{{ bcrypt "x" }}"#, &data)
                .expect("hash")
        })
    });
    g.finish();
}

fn bench_hostile(c: &mut Criterion) {
    let data = items();
    let mut g = c.benchmark_group("over_budget");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    // Before the budgets were shared, each of these values had a budget of its own.
    g.bench_function("5000_bcrypt_values", |b| {
        b.iter(|| {
            let e = render_until_exhausted(5000, r#"{{ bcrypt "x" }}"#, &data);
            assert_eq!(e, Exhausted::Bcrypt(8));
        })
    });
    g.bench_function("5000_loop_values", |b| {
        b.iter(|| {
            let e = render_until_exhausted(5000, "{{ range until 1000 }}{{ end }}", &data);
            assert_eq!(e, Exhausted::Steps(1_000_000));
        })
    });
    let tokens = "{{1}}".repeat(200_000);
    g.bench_function("1MiB_of_actions", |b| {
        b.iter(|| {
            let e = Engine::new()
                .render("t", black_box(&tokens), &data)
                .expect_err("too many tokens");
            assert_eq!(e.exhausted(), Some(Exhausted::Steps(1_000_000)));
        })
    });
    let parens = format!("{{{{{}", "(".repeat(1 << 20));
    g.bench_function("1MiB_of_parens", |b| {
        b.iter(|| {
            Engine::new()
                .render("t", black_box(&parens), &data)
                .expect_err("too deep");
        })
    });
    let text = "x".repeat(1 << 20);
    g.bench_function("1MiB_literal", |b| {
        b.iter(|| {
            Engine::new()
                .render("t", black_box(&text), &data)
                .expect("fits")
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_typical(&mut c);
    bench_hostile(&mut c);
    c.final_summary();
}
