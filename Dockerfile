# syntax=docker/dockerfile:1
# Three stages: bundle the front-end packages, build a static Go binary with them embedded,
# then copy only the binary into a minimal image that runs as a non-root user.

FROM node:20-bookworm-slim AS assets
WORKDIR /src/static
COPY static/package.json static/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY static/ ./
RUN node build.mjs

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=assets /src/static/dist ./static/dist
ARG VERSION=docker
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/policykit . \
 && mkdir -p /out/data

# The binary is static, so the final image holds only it, CA roots for platform APIs, and
# an empty data folder owned by the unprivileged user.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/policykit /usr/local/bin/policykit
COPY --from=build --chown=65532:65532 /out/data /data
ENV POLICYKIT_ADDR=:8080 \
    POLICYKIT_DATA_DIR=/data \
    POLICYKIT_LOG_FORMAT=json
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/policykit", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/policykit"]
CMD ["serve"]
