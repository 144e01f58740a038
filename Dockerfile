# syntax=docker/dockerfile:1
#
# Floodgate image: `make docker` (or `docker build -t floodgate .` from the repository root).
#
#   docker run --rm -p 8080:8080 -p 8081:8081 floodgate               # example rules, in-memory store
#   docker run --rm -p 8080:8080 -p 8081:8081 \
#     -v "$PWD/deploy/rules:/etc/floodgate/rules:ro" -e REDIS_URL=redis://host:6379 floodgate
#   docker run --rm -v "$PWD/deploy/rules:/rules:ro" floodgate config validate /rules
#
# Pin the base image by digest in production (`node:20-bookworm-slim@sha256:...`); the tag is kept
# here so that the file stays readable and picks up Node 20 security releases when rebuilt.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: compile TypeScript with the dev dependencies ----------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: none is needed to compile (the only runtime package with one, protobufjs,
# merely prints a version hint), and skipping them keeps third-party code out of the build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY proto ./proto
RUN npm run build

# --- runtime: production dependencies, compiled code, protos ------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    GRPC_PORT=8081 \
    HTTP_PORT=8080 \
    RULES_PATH=/etc/floodgate/rules \
    ADMIN_DATA_DIR=/var/lib/floodgate/db
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The code finds proto/ from package.json's directory, so it sits next to dist/.
COPY proto ./proto
# Example rules, so that a bare `docker run` works; mount your own rules over this directory.
COPY deploy/rules/*.yaml /etc/floodgate/rules/
# /var/lib/floodgate holds the embedded admin database (PGlite), used only when the admin API is
# on and DATABASE_URL is unset. It must be writable by the service user.
RUN mkdir -p /var/lib/floodgate && chown 1000:1000 /var/lib/floodgate
VOLUME ["/etc/floodgate/rules", "/var/lib/floodgate"]

# The `node` user of the base image, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000

# 8080: HTTP (/healthz, /readyz, /metrics, /openapi.json, /api/v1/check-limit); 8081: gRPC (RLS v3,
# CheckLimit, Admin, health, reflection). Nothing else listens.
EXPOSE 8080 8081

# Slim images have no curl: Node's own fetch asks /healthz (liveness: the process answers HTTP).
# It calls 127.0.0.1, which the default HOST=0.0.0.0 covers; keep that if you change HOST.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/healthz',{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Node runs as PID 1 and gets SIGTERM directly (exec form, no shell in between). That is enough
# here: the service handles SIGTERM and SIGINT itself (unready, drain for SHUTDOWN_GRACE_MS, exit 0)
# and starts no child processes, so there are no zombies to reap and no init (tini, `docker run
# --init`) is needed. Give the container more than SHUTDOWN_GRACE_MS (default 10 s) to stop:
# `docker stop -t 15`, compose `stop_grace_period: 15s`, Kubernetes terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/app/cli.js"]
CMD ["serve"]
