# syntax=docker/dockerfile:1
# Multi-stage build of voice-scheduler. Not built on the development machine
# (it has no Docker engine); see docs/deployment.md.

# --- build ------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# 1. Dependencies only, cached until a Cargo.toml or Cargo.lock changes: build
#    the workspace with empty sources.
COPY Cargo.toml Cargo.lock ./
COPY crates/domain/Cargo.toml crates/domain/
COPY crates/store/Cargo.toml crates/store/
COPY crates/vapi/Cargo.toml crates/vapi/
COPY crates/http/Cargo.toml crates/http/
COPY crates/server/Cargo.toml crates/server/
COPY crates/bench/Cargo.toml crates/bench/
COPY migrations/Cargo.toml migrations/
RUN set -eux; \
    for c in crates/domain crates/store crates/vapi crates/http crates/server crates/bench migrations; do \
      mkdir -p $c/src && echo '' > $c/src/lib.rs && echo 'fn main() {}' > $c/src/main.rs; \
    done; \
    mkdir -p src && echo 'fn main() {}' > src/main.rs; \
    cargo build --release --locked -p voice-scheduler || true
# 2. The real sources.
COPY . .
RUN touch src/main.rs crates/*/src/*.rs migrations/src/*.rs \
 && cargo build --release --locked -p voice-scheduler \
 && strip target/release/voice-scheduler

# --- run --------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --create-home voice
COPY --from=build /src/target/release/voice-scheduler /usr/local/bin/voice-scheduler
USER 10001
WORKDIR /app
ENV HOST=0.0.0.0 PORT=8000 LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/health/ready || exit 1
ENTRYPOINT ["voice-scheduler"]
CMD ["serve"]
