# syntax=docker/dockerfile:1
# Images for the controller (default) and kubeseal:
#   docker build -t sealed-secrets-controller .
#   docker build --target kubeseal -t kubeseal .

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# aws-lc-rs builds its C sources with the image's compiler.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p sealed-controller -p sealed-cli \
    && install -D -t /out target/release/sealed-secrets-controller target/release/kubeseal

FROM gcr.io/distroless/cc-debian12:nonroot AS kubeseal
COPY --from=builder /out/kubeseal /usr/local/bin/kubeseal
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kubeseal"]

# Last stage: the default target.
FROM gcr.io/distroless/cc-debian12:nonroot AS controller
COPY --from=builder /out/sealed-secrets-controller /usr/local/bin/sealed-secrets-controller
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/sealed-secrets-controller"]
