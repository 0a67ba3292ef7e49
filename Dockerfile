# lux-logger: a distroless image that runs the compiled binary as a non-root user.
#
#   docker build -t lux-logger .
#   docker run -d --name lux-logger --env-file .env \
#     -v lux-data:/app/data -v lux-logs:/app/logs lux-logger
#
# The build stage compiles for the architecture it runs on, so `docker buildx build
# --platform linux/arm64` gives a Raspberry Pi image. Networking notes: README, Deployment.

# ---- build: compile main.ts with the permission flags of `deno task compile` ----
FROM denoland/deno:2.9.6 AS build
WORKDIR /src
# Dependencies first, so a source change does not download them again.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY main.ts ./
COPY src/ ./src/
RUN deno task compile
# Empty volume folders owned by the runtime user; distroless has no shell to make them.
RUN mkdir -p /out/data /out/logs

# ---- runtime: no shell, no package manager; uid 65532 (nonroot) ----
FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app
COPY --from=build /src/dist/lux-logger /app/lux-logger
COPY --from=build --chown=65532:65532 /out/data /app/data
COPY --from=build --chown=65532:65532 /out/logs /app/logs
USER 65532:65532
# The binary may read and write only ./data and ./logs (relative to /app): keep
# CACHE_PATH and OUTPUT_DIRS_* at their defaults or inside these folders.
VOLUME ["/app/data", "/app/logs"]
# Exec form: distroless has no /bin/sh. `health` exits 1 when the newest stored poll is
# older than HEALTH_MAX_AGE_SEC (default 3 × INTERVAL_SEC + TIMEOUT_SEC × (RETRIES + 1)).
HEALTHCHECK --interval=60s --timeout=10s --start-period=3m --retries=3 \
  CMD ["/app/lux-logger", "health"]
ENTRYPOINT ["/app/lux-logger"]
CMD ["run"]
