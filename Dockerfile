# The `sluice` image: the binary and the built-in (Bluesky) plugins. Every service of compose.yaml
# runs it with a different subcommand.
#
#   docker build -t sluice .
#
# Build stage: the workspace in release mode, and the plugins as WASM components.
FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p sluice \
 && cargo build --release --locked --target wasm32-wasip2 \
      -p sluice-bsky-actor -p sluice-bsky-feed -p sluice-bsky-graph -p sluice-bsky-labels \
 && mkdir -p /out/plugins \
 && cp target/release/sluice /out/sluice \
 && cp target/wasm32-wasip2/release/sluice_bsky_*.wasm /out/plugins/

# Run stage: Debian slim with CA certificates (relays, PDSes and PLC are reached over HTTPS).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/sluice --create-home sluice
COPY --from=build /out/sluice /usr/local/bin/sluice
COPY --from=build /out/plugins /usr/lib/sluice/plugins
USER sluice
WORKDIR /var/lib/sluice
ENV SLUICE_LOG=info \
    SLUICE_INDEXER_BUILTIN_PLUGIN_DIR=/usr/lib/sluice/plugins \
    SLUICE_PLUGIN_CACHE_DIR=/var/lib/sluice/plugin-cache
ENTRYPOINT ["sluice"]
CMD ["--help"]
