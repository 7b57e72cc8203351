# syntax=docker/dockerfile:1
# One image for the three parts sluice plays: the CMP sidecar of argocd-repo-server (which runs Argo CD's
# argocd-cmp-server, mounted in, calling `sluice generate`), the PreSync guard Jobs (`sluice guard`) and the
# notification sink (`sluice serve`). It carries a static sluice plus the render tools, kustomize and helm.
#
#   docker build -t registry.example.com/platform/sluice:0.1.0 .
#
# Then point the install kit at it with one `images:` entry (docs/install.md).

ARG RUST_VERSION=1.95
ARG ALPINE_VERSION=3.22
# Pinned render tools. kustomize: the Kubernetes SIG's own image; helm publishes no image, so its release
# tarball is fetched from get.helm.sh and checked against the checksum published beside it.
ARG KUSTOMIZE_VERSION=v5.5.0
ARG HELM_VERSION=v3.16.4

# --- sluice: a static musl build ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin sluice \
 && install -m 0755 target/release/sluice /sluice \
 && /sluice --version

# --- kustomize (static Go binary at /app/kustomize) --------------------------------------------------------
FROM registry.k8s.io/kustomize/kustomize:${KUSTOMIZE_VERSION} AS kustomize

# --- helm (static Go binary) -------------------------------------------------------------------------------
FROM alpine:${ALPINE_VERSION} AS helm
ARG HELM_VERSION
ARG TARGETARCH=amd64
RUN wget -q "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
 && wget -q "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz.sha256sum" \
 && sha256sum -c "helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz.sha256sum" \
 && tar -xzf "helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
 && install -m 0755 "linux-${TARGETARCH}/helm" /helm

# --- runtime -----------------------------------------------------------------------------------------------
# Alpine rather than distroless: kustomize needs git for remote bases and both tools need CA certificates.
FROM alpine:${ALPINE_VERSION}
RUN apk add --no-cache ca-certificates git openssh-client
COPY --from=build /sluice /usr/local/bin/sluice
COPY --from=kustomize /app/kustomize /usr/local/bin/kustomize
COPY --from=helm /helm /usr/local/bin/helm
# Argo CD requires the sidecar to run as 999; the sink and the guard run as the same user. Nothing is
# written outside /tmp (an emptyDir in the sidecar) and the sink's data volume.
ENV HOME=/tmp \
    HELM_CACHE_HOME=/tmp/helm/cache \
    HELM_CONFIG_HOME=/tmp/helm/config \
    HELM_DATA_HOME=/tmp/helm/data
USER 999:999
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["--help"]
