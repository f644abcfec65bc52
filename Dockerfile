# Comet's container image: one static binary on an empty base, run as a
# non-root user, data under the /var/lib/comet volume.
#
#   docker build -t comet .
#   docker run -d -p 9876:9876 -p 10911:10911 -p 9877:9877 -v comet-data:/var/lib/comet comet
#
# Inside the container every address listens on 0.0.0.0; publish only what
# clients need. Set COMET_ADVERTISE to the ip:port clients reach the broker
# at when that is not the container's own address.

FROM docker.io/library/golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/comet ./cmd/comet && \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/cometctl ./cmd/cometctl && \
    mkdir -p /out/data && chown 65532:65532 /out/data

FROM scratch
COPY --from=build /out/comet /out/cometctl /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /var/lib/comet
USER 65532:65532
ENV COMET_DATA_DIR=/var/lib/comet \
    COMET_LISTEN=0.0.0.0:10911 \
    COMET_NAMESRV_LISTEN=0.0.0.0:9876 \
    COMET_HTTP_LISTEN=0.0.0.0:9877 \
    COMET_HA_LISTEN=0.0.0.0:10912 \
    COMET_NAMESRV=127.0.0.1:9876
VOLUME /var/lib/comet
# name server, broker, replication, HTTP (metrics, API, console)
EXPOSE 9876 10911 10912 9877
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/comet", "healthcheck", "http://127.0.0.1:9877/healthz"]
ENTRYPOINT ["/usr/local/bin/comet"]
