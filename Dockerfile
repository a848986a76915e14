# syntax=docker/dockerfile:1
# One image for every service: `zekka up`, `zekka serve <service>`, `zekka migrate`.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin zekka \
    && cp target/release/zekka /usr/local/bin/zekka

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home zekka \
    && mkdir -p /var/lib/zekka/sources && chown -R zekka /var/lib/zekka
COPY --from=build /usr/local/bin/zekka /usr/local/bin/zekka
USER zekka
ENV PORT=8080 LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD curl -fsS "http://127.0.0.1:${PORT}/healthz" || exit 1
ENTRYPOINT ["zekka"]
CMD ["up"]
