# syntax=docker/dockerfile:1
# The vmprobe image: `vmprobe` CLI and agent on the current Node LTS.
#   docker build -t ghcr.io/vmprobe/vmprobe:0.1.0 .
# Stages: build (compile TypeScript and bundle it: agent/build-bundle.mjs), deps (production
# dependencies of the agent and shared workspaces only, with the raw-socket addon compiled: what the
# bundle leaves external), runtime (no compiler, no npm).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS toolchain
# raw-socket (net-ping's ICMP addon) is compiled by node-gyp at install time.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# npm ci needs every workspace's package.json to match the lock file.
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY agent/package.json agent/
COPY test/package.json test/

FROM toolchain AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json ./
COPY shared/ shared/
COPY agent/ agent/
RUN npx tsc -b agent && node agent/build-bundle.mjs

FROM toolchain AS deps
RUN npm ci --omit=dev --no-audit --no-fund --workspace=@vmprobe/agent --workspace=@vmprobe/shared

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# npm, npx, corepack and yarn are not needed at run time: less to patch, less to exploit.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
    /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn* /usr/local/bin/yarn /usr/local/bin/yarnpkg
WORKDIR /app
COPY --from=deps /src/node_modules node_modules
COPY --from=build /src/package.json ./
# The bundle holds the agent, @vmprobe/shared and the pure-JavaScript dependencies; agent/dist and
# shared/dist are not needed at run time. agent/package.json: the version (and `type: module`).
COPY --from=build /src/agent/package.json agent/
COPY --from=build /src/agent/bin agent/bin
COPY --from=build /src/agent/bundle agent/bundle
# Non-root by default (the image's `node` user, numeric so that runAsNonRoot can be verified). The
# DaemonSet runs the agent as UID 0 with every capability dropped but NET_RAW, because a non-root
# process cannot hold NET_RAW under allowPrivilegeEscalation: false (no ambient capabilities, file
# capabilities ignored under no_new_privs); see docs/ARCHITECTURE.md, "Image".
USER 1000:1000
EXPOSE 9470
# Exec form, no shell: node is PID 1 and receives SIGTERM itself (the agent handles it: stop probing,
# flush pending status writes, exit 0).
ENTRYPOINT ["node", "agent/bin/vmprobe.js"]
CMD ["agent"]
