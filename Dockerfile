# syntax=docker/dockerfile:1
# sipwarden container image: Node 20 on Debian 12 (slim), production dependencies only, runs as an unprivileged
# user with no capability: every port it listens on by default (5060, 5061, 8082, 4222) is above 1023. Only a
# listener configured below 1024 needs CAP_NET_BIND_SERVICE (Docker 20.10 and later let any user bind low ports
# inside the container's own network namespace anyway).
#
#   docker build -t sipwarden .
#   docker run -d --name sipwarden -p 5060:5060/udp -p 5060:5060/tcp -p 5061:5061/tcp \
#     --cap-drop ALL -v sipwarden-data:/data sipwarden
#
# SentryPeer's image reads the same variables and they mean the same here, for example:
#   SENTRYPEER_DB_FILE=/data/sentrypeer.db   SENTRYPEER_API=1          SENTRYPEER_WEBHOOK_URL=https://…/events
#   SENTRYPEER_OAUTH2_CLIENT_ID=…            SENTRYPEER_OAUTH2_CLIENT_SECRET=…
#   SENTRYPEER_SIP_RESPONSIVE=1              SENTRYPEER_SIP_DISABLE=1  SENTRYPEER_SYSLOG=1
#   SENTRYPEER_PEER_TO_PEER=1                SENTRYPEER_BOOTSTRAP_NODE=peer.example.org
#   SENTRYPEER_JSON_LOG=1                    SENTRYPEER_JSON_LOG_FILE=/data/sentrypeer_json.log
#   SENTRYPEER_VERBOSE=1  SENTRYPEER_DEBUG=1 SENTRYPEER_CERT=/data/cert.pem  SENTRYPEER_KEY=/data/key.pem
#   SENTRYPEER_TLS_LISTEN_ADDRESS=0.0.0.0:5061
# and every sipwarden setting as SIPWARDEN_<LONG_FLAG> (docs/CONFIG.md). Paths should point into /data.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript to dist/ and bundle the dashboard into dist/ui
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY types ./types
COPY src ./src
# The dashboard (ui/) is bundled by esbuild into dist/ui in the same build step.
COPY ui ./ui
COPY scripts/build-ui.mjs ./scripts/build-ui.mjs
RUN npm run build

# ---- deps: production node_modules with the native addons (better-sqlite3, unix-dgram) compiled for this Node
FROM ${NODE_IMAGE} AS deps
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# Where Node's headers are, so node-gyp does not try to download them (the official image: /usr/local).
ARG NODEDIR=/usr/local
WORKDIR /opt/sipwarden
COPY package.json package-lock.json ./
# --ignore-scripts keeps the project's own prepare step (tsc, a dev dependency) from running; the rebuild then
# compiles the two native addons.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm_config_nodedir="$NODEDIR" npm rebuild better-sqlite3 unix-dgram

# ---- runtime
FROM ${NODE_IMAGE}
RUN groupadd --system --gid 10001 sipwarden && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin sipwarden
RUN mkdir -p /data && chown 10001:10001 /data && chmod 0750 /data
COPY --from=deps /opt/sipwarden/node_modules /opt/sipwarden/node_modules
COPY --from=build /src/dist /opt/sipwarden/dist
COPY package.json LICENSE README.md /opt/sipwarden/
COPY bin /opt/sipwarden/bin
COPY deploy/docker/healthcheck.mjs /opt/sipwarden/deploy/docker/healthcheck.mjs
ENV NODE_ENV=production
# The database (sipwarden.db), the JSON log, the TLS certificate and the P2P identity all land in the volume.
ENV SIPWARDEN_DATA_DIR=/data
VOLUME ["/data"]
WORKDIR /data
USER sipwarden:sipwarden
# SIP over UDP and TCP, SIP over TLS, REST API, libp2p peer-to-peer.
EXPOSE 5060/udp 5060/tcp 5061/tcp 8082/tcp 4222/tcp
# The API listens on the container's loopback unless SIPWARDEN_API_LISTEN says otherwise (a non-loopback API needs
# SIPWARDEN_API_TOKEN); the check asks GET /health-check there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/opt/sipwarden/deploy/docker/healthcheck.mjs"]
ENTRYPOINT ["node", "/opt/sipwarden/bin/sipwarden"]
# Like SentryPeer's image: answer probes (-r) and serve the API (-a).
CMD ["-r", "-a"]
