# The gateway as a container: `docker build -t bitrix24-transfer-gateway .`
# Stage 1 builds plain JavaScript (npm run build: esbuild, into dist/, with Redoc's file for /docs); stage 2 installs production
# dependencies only; stage 3 runs the build with plain node, as the unprivileged `node` user.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY scripts ./scripts
COPY generated ./generated
COPY src ./src
RUN npm run build

FROM node:22-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY --from=dependencies --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json ./
COPY --chown=root:root openapi/openapi.yaml ./openapi/openapi.yaml
COPY --from=build --chown=root:root /app/dist ./dist
# The code is owned by root and read-only to the process.
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM reaches node directly (exec form), which drains in-flight requests before it exits.
CMD ["node", "--enable-source-maps", "dist/main.js"]
