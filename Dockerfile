# syntax=docker/dockerfile:1
# The flagops image for machines with Docker (or any BuildKit builder):
#
#   docker build --build-arg VERSION=v1.2.3 --build-arg REVISION=$(git rev-parse HEAD) -t ghcr.io/flagops/flagops:v1.2.3 .
#   docker buildx build --platform linux/amd64,linux/arm64 …   # both architectures
#
# CI builds the same image without a container engine (go run ./deploy/image,
# see docs/operations.md): the same static binary, built with the same
# go build arguments (internal/imagebuild.GoBuildArgs), in the same place
# with the same user, port, environment and labels.

ARG GO_VERSION=1.26.8

# The build stage runs on the builder's own platform and cross-compiles:
# the binary is pure Go (no cgo), so no emulation is needed.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -buildvcs=false -trimpath -tags timetzdata \
      -ldflags "-s -w -X github.com/flagops/flagops/cli.Version=${VERSION}" \
      -o /out/flagops ./cmd/flagops \
 && mkdir -p /out/data

# distroless/static: CA certificates, tzdata, /etc/passwd with the nonroot
# user (65532), no shell and no package manager. Pin it by digest in a
# release pipeline.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=
ARG CREATED=
LABEL org.opencontainers.image.title="flagops" \
      org.opencontainers.image.description="The flagops control plane: catalog, facts, secrets, flags and versions" \
      org.opencontainers.image.source="https://github.com/flagops/flagops" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build --chmod=0755 /out/flagops /usr/local/bin/flagops
COPY --from=build --chown=65532:65532 --chmod=0700 /out/data /var/lib/flagops
ENV FLAGOPS_LISTEN=:8080 \
    FLAGOPS_DATA_DIR=/var/lib/flagops
USER 65532:65532
WORKDIR /var/lib/flagops
VOLUME /var/lib/flagops
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/flagops"]
CMD ["serve"]
