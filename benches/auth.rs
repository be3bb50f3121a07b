//! What authenticating and authorizing one request costs:
//! `cargo bench --bench auth`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tasker::auth::permission::TASK_CREATE;
use tasker::auth::{Auth, Credentials, jwt};
use tasker::config::AuthConfig;

fn authenticating(c: &mut Criterion) {
    let config = AuthConfig {
        enabled: true,
        secret: "a benchmark secret, at least 32 bytes long".into(),
        issuer: "bench".into(),
        ..AuthConfig::default()
    };
    let auth = Auth::from_config(&config).expect("configured");
    let grants: Vec<String> = [
        "tasker.task:read",
        "tasker.task:create@payments",
        "tasker.step:claim",
    ]
    .map(String::from)
    .to_vec();
    let token = jwt::issue(&config, "bench", &grants, 3_600).expect("issues");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    c.bench_function("HS256 bearer token: verify and parse grants", |b| {
        b.iter(|| {
            let credentials = Credentials::Bearer(black_box(token.clone()));
            runtime.block_on(auth.identify(Some(credentials)))
        })
    });
    let (key, hash) = tasker::auth::api_key::generate("bench").expect("generates");
    let with_key = || {
        Auth::from_config(&AuthConfig {
            api_keys: vec![tasker::config::ApiKeyConfig {
                name: "bench".into(),
                hash: hash.clone(),
                permissions: grants.clone(),
            }],
            ..config.clone()
        })
        .expect("configured")
    };
    let mut group = c.benchmark_group("API key");
    group.sample_size(10);
    group.bench_function("first use (argon2id verification)", |b| {
        // A fresh authenticator each time, so nothing is remembered.
        b.iter(|| runtime.block_on(with_key().identify(Some(Credentials::ApiKey(key.clone())))))
    });
    let keyed = with_key();
    group.bench_function("remembered", |b| {
        b.iter(|| runtime.block_on(keyed.identify(Some(Credentials::ApiKey(black_box(key.clone()))))))
    });
    group.finish();
    let access = runtime.block_on(auth.identify(Some(Credentials::Bearer(token.clone()))));
    c.bench_function("permission check (namespace-scoped grant)", |b| {
        b.iter(|| access.require(TASK_CREATE, black_box(Some("payments"))))
    });
}

criterion_group!(benches, authenticating);
criterion_main!(benches);
