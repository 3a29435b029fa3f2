# The gateway as a container: `docker build -t bitrix24-transfer-gateway .`
# Stage 1 builds plain JavaScript (npm run build: esbuild bundles the gateway and its dependencies into dist/,
# with Redoc's file for /docs, better-sqlite3's native module and the bundled packages' licences); stage 2 runs that bundle with plain node,
# as the unprivileged `node` user: no node_modules (src/dependencies.test.ts runs the bundle from a folder
# holding only what this stage copies).
FROM node:22-bookworm-slim AS build
WORKDIR /app
# better-sqlite3's native module (the data folder's database) is compiled here from the source it ships
# (never a downloaded binary), against this Node's own headers; only the module goes on to the last stage.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && npm_config_build_from_source=true npm_config_nodedir=/usr/local npm rebuild better-sqlite3
COPY tsconfig.json ./
COPY scripts ./scripts
COPY generated ./generated
COPY openapi/openapi.yaml ./openapi/openapi.yaml
COPY src ./src
RUN npm run build

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
# package.json: "type": "module" (dist/ is ES modules), and the root the gateway finds its files from.
COPY --chown=root:root package.json ./
COPY --chown=root:root openapi/openapi.yaml ./openapi/openapi.yaml
COPY --from=build --chown=root:root /app/dist ./dist
# The code is owned by root and read-only to the process. The data folder (GATEWAY_DATA_DIR: the keys of a
# gateway without Redis) is the node user's alone, a volume so that it outlives the container.
RUN mkdir -m 0700 /data && chown node:node /data
ENV GATEWAY_DATA_DIR=/data
VOLUME ["/data"]
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM reaches node directly (exec form), which drains in-flight requests before it exits. Source maps
# ship in dist/ but are off: `--enable-source-maps` (NODE_OPTIONS) reads them at start, for 24 MB of RSS.
CMD ["node", "dist/main.js"]
