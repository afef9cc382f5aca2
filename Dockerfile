# realtimed container image: a static binary on a distroless base, running as non-root.
#   docker build -t realtimed .
#   docker run --rm -e DATABASE_URL=postgres://… -p 3001:3001 realtimed
# The builder's Go version follows go.mod (deploy/deploy_test.go checks that they agree).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no cgo), reproducible paths, no debug tables: the same ./cmd/realtimed as `make build`.
# The context has no .git, so the commit comes as a build argument (realtimed version, the
# realtimed_build_info metric): docker build --build-arg REVISION=$(git rev-parse HEAD) .
ARG REVISION=
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w -X github.com/realtimed/realtimed/buildinfo.revision=${REVISION}" -o /out/realtimed ./cmd/realtimed

# distroless/static: CA certificates, tzdata and /etc/passwd with a nonroot user (65532), no
# shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/realtimed /usr/local/bin/realtimed
USER 65532:65532
ENV REALTIME_ADDR=:3001
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD ["/usr/local/bin/realtimed", "ready"]
ENTRYPOINT ["/usr/local/bin/realtimed"]
CMD ["serve"]
