# tailjit apply --watch: revokes expired access within a second of expiry.
# The image holds tailjit only; the access repository is cloned at run time
# (see deploy/kubernetes.yaml and docs/github.md).
#
#   docker build -t tailjit .
#   docker run --rm tailjit --help
#
# For reproducible builds, pin the base image by digest: python:3.12-slim@sha256:…

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN python -m venv /opt/tailjit \
 && /opt/tailjit/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM python:3.12-slim
# git: the init container clones the access repository; tailjit itself uses libgit2 (pygit2).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /home/tailjit --create-home tailjit
COPY --from=build /opt/tailjit /opt/tailjit
ENV PATH=/opt/tailjit/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /repo
# apply --watch finishes the write under way, then exits 0 on SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tailjit"]
CMD ["--backend", "tailscale", "apply", "--watch", "--pull"]
