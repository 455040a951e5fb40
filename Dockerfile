# Herald's container image: the release server and its console, run as a
# user of its own, the data directory a volume, a health check that asks
# /readyz. Build: docker build -t herald .   Run: see the README's Deploying.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Node.js runs wasm-opt (npm's binaryen) and precompresses the console's files.
RUN rustup target add wasm32-unknown-unknown \
 && apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
# wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock.
COPY Cargo.lock .
RUN want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock) \
 && (cargo install wasm-bindgen-cli --version "$want" --locked \
     || cargo install wasm-bindgen-cli --version "$want")
COPY . .
ENV CARGO_TARGET_DIR=/src/target
RUN scripts/setup.sh build \
 && scripts/build.sh release \
 && mkdir -p /out \
 && cp target/release/herald /out/herald \
 && cp -r target/release/site /out/site

FROM debian:bookworm-slim
# Deliveries verify TLS with the roots built into the binary: no CA package.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/herald \
      --shell /usr/sbin/nologin herald \
 && install -d -o herald -g herald -m 0700 /var/lib/herald
COPY --from=build /out/herald /usr/local/bin/herald
COPY --from=build /out/site /usr/local/share/herald/site
ENV HERALD_DATA_DIR=/var/lib/herald \
    HERALD_SITE_DIR=/usr/local/share/herald/site \
    HERALD_LISTEN=0.0.0.0:3000 \
    HERALD_LOG_FORMAT=json
VOLUME /var/lib/herald
EXPOSE 3000
USER herald
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
  CMD ["herald", "health", "--url", "http://127.0.0.1:3000"]
ENTRYPOINT ["herald"]
CMD ["serve"]
