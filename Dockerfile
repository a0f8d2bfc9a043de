# meshlet: the proxy (sidecar or gateway), the control plane, and the pod init step, in one image.
#   docker build -t ghcr.io/meshlet/meshlet:0.1.0 .
#   docker run --rm ghcr.io/meshlet/meshlet:0.1.0 proxy --mode sidecar --xds-address cp:18000 --service echo
# Kubernetes: examples/kubernetes/ (the control plane, and `meshlet inject` for workloads).

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here (no dependency needs an
# install script: protobufjs's only checks its optional CLI).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY bench ./bench
COPY certs ./certs
COPY cli ./cli
COPY proxy ./proxy
COPY xds ./xds
RUN npm run build

FROM node:20-bookworm-slim
# iptables: the pod's init container runs `meshlet iptables --apply` from this image.
# The meshlet user (uid/gid 1337, as Istio's proxy): iptables lets its traffic through.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables=1.8.9-2 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 1337 meshlet \
 && useradd --system --uid 1337 --gid meshlet --no-create-home --shell /usr/sbin/nologin meshlet
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY examples ./examples
# `meshlet` on the PATH, for ENTRYPOINT and for `kubectl exec ... meshlet ...`. node resolves
# the symlink, so bin/meshlet.js finds ../dist from /app/bin.
RUN chmod 0755 bin/meshlet.js && ln -s /app/bin/meshlet.js /usr/local/bin/meshlet

# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 1337:1337
# Outbound, inbound and health (admin stays on loopback); the control plane uses 18000 and 18001.
EXPOSE 15001 15006 15021
# The default command's readiness: a sidecar's admin, on loopback inside the container (there is
# no curl in the slim image). Kubernetes ignores HEALTHCHECK and uses the probes meshlet inject writes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:15000/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["meshlet"]
CMD ["proxy", "--mode", "sidecar"]
