# Keyhole's container image: built in a Rust image, run in a slim Debian of the same release
# (same glibc) holding only the binary and the CA certificates, as a non-root user.
#   docker build -t keyhole .
#   docker run -p 8080:8080 -v /etc/keyhole:/etc/keyhole:ro keyhole
# The config must listen on 0.0.0.0:8080 (the HEALTHCHECK asks 127.0.0.1:8080 over plain HTTP).

FROM rust:1-bookworm AS builder
WORKDIR /build
# Only what the build reads: the manifest names the benches, so they come too.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY assets ./assets
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin keyhole \
    && install -D -m 0755 target/release/keyhole /out/keyhole

FROM debian:bookworm-slim AS runtime
# A fixed numeric uid, so Kubernetes' runAsNonRoot can check it without a passwd lookup.
RUN groupadd --system --gid 10001 keyhole \
    && useradd --system --uid 10001 --gid keyhole --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin keyhole
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/keyhole /usr/local/bin/keyhole
USER 10001:10001
EXPOSE 8080
# SIGTERM lets open downloads finish within [limits] shutdown_grace: give `docker stop` a
# --time (or Kubernetes a terminationGracePeriodSeconds) longer than that.
STOPSIGNAL SIGTERM
# No curl in the image: bash's /dev/tcp sends one request and the status line is checked.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /_keyhole/healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r -t 4 _ status _ <&3 && [ \"$status\" = 200 ]"]
ENTRYPOINT ["keyhole", "serve", "--config", "/etc/keyhole/keyhole.toml"]
