# syntax=docker/dockerfile:1.7
# Single-process image (`pricetrack serve`). Per-service targets (api, scraper, rescheduler)
# arrive with the AWS services.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin pricetrack && cp target/release/pricetrack /pricetrack

FROM gcr.io/distroless/cc-debian12:nonroot AS pricetrack
LABEL org.opencontainers.image.title="pricetrack" \
      org.opencontainers.image.description="Price tracker: API, scraper workers and rescheduler in one process on SQLite" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /pricetrack /usr/local/bin/pricetrack
ENV PRICETRACK_LISTEN=0.0.0.0:9090 PRICETRACK_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 9090
USER nonroot
ENTRYPOINT ["/usr/local/bin/pricetrack"]
CMD ["serve"]
