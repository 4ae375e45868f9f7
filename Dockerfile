# syntax=docker/dockerfile:1
#
# Ishara: one image for every role (serve, api, worker, migrate).
#   docker build -t ishara .
#   docker run -p 8080:8080 -v ishara-data:/var/lib/ishara ishara
# Needs BuildKit (the default in current Docker) for the cache mounts.

FROM rust:1-bookworm AS build
WORKDIR /src
# The whole tree: the binary embeds migrations/ and data/geonames/, and the
# manifest names benches/.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ishara \
 && cp target/release/ishara /usr/local/bin/ishara

FROM debian:bookworm-slim
# ca-certificates for amqps:// (RabbitMQ over TLS); curl for health checks
# (docker-compose.yml probes /healthz with it).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 ishara \
 && useradd --system --uid 10001 --gid ishara --home-dir /var/lib/ishara \
      --no-create-home --shell /usr/sbin/nologin ishara \
 && mkdir -p /var/lib/ishara \
 && chown ishara:ishara /var/lib/ishara
COPY --from=build /usr/local/bin/ishara /usr/local/bin/ishara
# The example rules and their templates; mount your own over /etc/ishara/rules.
COPY rules /etc/ishara/rules
COPY templates /etc/ishara/templates

USER ishara
WORKDIR /var/lib/ishara
# Listen on all interfaces inside the container; keep data on a volume
# mounted at /var/lib/ishara (a new named volume takes this ownership).
ENV ISHARA_DATA_DIR=/var/lib/ishara \
    ISHARA_HTTP__LISTEN=0.0.0.0:8080 \
    ISHARA_RULES_DIR=/etc/ishara/rules \
    ISHARA_TEMPLATES_DIR=/etc/ishara/templates
EXPOSE 8080
# No HEALTHCHECK here: the worker role has no HTTP port. docker-compose.yml
# checks /healthz for the serve/api roles.
ENTRYPOINT ["ishara"]
CMD ["serve"]
