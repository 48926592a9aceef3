# syntax=docker/dockerfile:1
# The operator image: a static-enough Rust binary on distroless, running as a non-root user.
#   docker build -t REGISTRY/lunanode-operator:0.1.0 .
# The build stage caches the cargo registry and target folder between builds (BuildKit).
# Without Docker, tools/image/build.sh writes the same contents as an OCI archive (tests/incluster.rs
# compares the two).

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin lunanode-operator \
    && cp target/release/lunanode-operator /lunanode-operator

# glibc and libgcc, CA certificates, nothing else (no shell): the binary uses rustls.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="lunanode-operator" \
      org.opencontainers.image.description="Kubernetes operator for the Luna Node cloud" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /lunanode-operator /lunanode-operator
USER 65532:65532
# /metrics, /healthz and /readyz (with --metrics-addr 0.0.0.0:8081).
EXPOSE 8081
ENTRYPOINT ["/lunanode-operator"]
CMD ["run", "--metrics-addr", "0.0.0.0:8081"]
