# syntax=docker/dockerfile:1.7
#
# One Dockerfile, one target per program:
#   docker build --target pricetrack  .   single process on SQLite (`pricetrack serve`)
#   docker build --target api         .   the HTTP API (PostgreSQL, DynamoDB, SQS, SNS)
#   docker build --target scraper     .   the check workers (Debian slim with Chromium)
#   docker build --target browser     .   headless Chromium alone, the scraper pod's sidecar: DevTools
#                                         on 127.0.0.1:9222, no credentials (docs/browser-isolation.md)
#   docker build --target rescheduler .   the rescheduler as a loop, for local use; in AWS it is
#                                         the cargo-lambda zip (.github/workflows/lambda.yml)
# Dependencies are compiled in their own layer (cargo-chef): a change to our code rebuilds only
# our crates. The images run as a non-root user (uid 65532) with nothing but the binary.

# ---- dependency recipe ------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS chef
# cargo-chef 0.1.x (the recipe format is stable within it), built from crates.io with its lock file.
RUN cargo install cargo-chef --version "^0.1" --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- build ------------------------------------------------------------------------------------
FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only: cached until Cargo.toml/Cargo.lock change.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked --bin pricetrack --bin api --bin scraper --bin rescheduler \
    && mkdir -p /out \
    && cp target/release/pricetrack target/release/api target/release/scraper target/release/rescheduler /out/

# ---- runtime images ---------------------------------------------------------------------------
# Debian with Chromium, for the two programs that render pages needing JavaScript.
FROM debian:bookworm-slim AS browser-runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Chromium for pages that need a browser; ca-certificates for HTTPS; tini reaps Chromium's
# children and forwards SIGTERM. Debian's package versions are pinned by the bookworm release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates chromium fonts-liberation tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 nonroot \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin nonroot
ENV PRICETRACK_BROWSER_PATH=/usr/bin/chromium HOME=/tmp

FROM browser-runtime AS pricetrack
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pricetrack" \
      org.opencontainers.image.description="Price tracker: API, scraper workers (with headless Chromium) and rescheduler in one process on SQLite" \
      org.opencontainers.image.source="https://github.com/pricetrack/pricetrack" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /out/pricetrack /usr/local/bin/pricetrack
ENV PRICETRACK_LISTEN=0.0.0.0:9090 PRICETRACK_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 9090
USER 65532:65532
HEALTHCHECK NONE
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/pricetrack"]
CMD ["serve"]

FROM gcr.io/distroless/cc-debian12:nonroot AS api
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pricetrack-api" \
      org.opencontainers.image.description="pricetrack HTTP API (PostgreSQL, DynamoDB, SQS, SNS)" \
      org.opencontainers.image.source="https://github.com/pricetrack/pricetrack" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /out/api /usr/local/bin/api
ENV PRICETRACK_LISTEN=0.0.0.0:9090
EXPOSE 9090
USER 65532:65532
# Kubernetes probes /healthz and /readyz; a Docker HEALTHCHECK would need a shell and curl.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/api"]

FROM browser-runtime AS scraper
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pricetrack-scraper" \
      org.opencontainers.image.description="pricetrack check workers fed by SQS, with headless Chromium" \
      org.opencontainers.image.source="https://github.com/pricetrack/pricetrack" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /out/scraper /usr/local/bin/scraper
USER 65532:65532
# No port: the scraper only makes outbound requests (no probe endpoint; Kubernetes watches the process).
HEALTHCHECK NONE
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/scraper"]

# Chromium on its own, for the browser sidecar of the scraper pod: the scraper drives it over
# DevTools on the pod's loopback (PRICETRACK_BROWSER_URL). No program of ours and no
# credentials in this container (docs/browser-isolation.md). Flags as the scraper passes them
# when it launches Chromium itself (crates/browser/src/fetcher.rs); the guard's proxy is set per
# browser context by the scraper, so it is not a flag here. --no-sandbox: without user namespaces
# or a setuid helper Chromium's own sandbox cannot start in a container; the container itself
# (no credentials, seccomp, read-only root, no capabilities, non-root) is the boundary.
FROM browser-runtime AS browser
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pricetrack-browser" \
      org.opencontainers.image.description="Headless Chromium with DevTools on 127.0.0.1:9222, the pricetrack scraper's sidecar" \
      org.opencontainers.image.source="https://github.com/pricetrack/pricetrack" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
USER 65532:65532
EXPOSE 9222
# Kubernetes probes the DevTools port (a TCP check); a Docker HEALTHCHECK would need curl.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/bin/chromium", "--headless", \
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=9222", \
            "--user-data-dir=/tmp/chromium-profile", "--no-sandbox", "--no-first-run", \
            "--no-default-browser-check", "--disable-gpu", "--disable-dev-shm-usage", \
            "--disable-extensions", "--disable-background-networking", "--disable-sync", \
            "--disable-component-update", "--dns-prefetch-disable", \
            "--blink-settings=imagesEnabled=false", \
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp", \
            "--disable-site-isolation-trials", \
            "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,IsolateOrigins,site-per-process,BackForwardCache,SpareRendererForSitePerProcess", \
            "--js-flags=--max-old-space-size=128", "--renderer-process-limit=8"]
CMD ["about:blank"]

FROM gcr.io/distroless/cc-debian12:nonroot AS rescheduler
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pricetrack-rescheduler" \
      org.opencontainers.image.description="pricetrack rescheduler as a loop (in AWS it runs as a Lambda function)" \
      org.opencontainers.image.source="https://github.com/pricetrack/pricetrack" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /out/rescheduler /usr/local/bin/rescheduler
USER 65532:65532
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/rescheduler"]
CMD ["--every", "60s"]

# The last stage is the default target: `docker build .` keeps giving the single-process image.
FROM pricetrack AS default
