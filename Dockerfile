# tailjit apply --watch: revokes expired access within a second of expiry.
# The image holds tailjit only, installed from the wheel built in the first stage; the access repository is
# cloned at run time (see deploy/kubernetes.yaml and docs/github.md) or mounted at /repo.
#
#   docker build -t tailjit .
#   docker run --rm tailjit --help
#   docker run --rm -v "$PWD:/repo" -e TS_OAUTH_CLIENT_ID -e TS_OAUTH_CLIENT_SECRET tailjit
#
# For reproducible builds, pin the base image by digest: python:3.12-slim@sha256:…

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml MANIFEST.in README.md LICENSE CHANGELOG.md ./
COPY reconciler ./reconciler
RUN python -m pip install --no-cache-dir --disable-pip-version-check build \
 && python -m build --wheel --outdir /dist .

FROM python:3.12-slim
# git: the init container clones the access repository; tailjit itself uses libgit2 (pygit2).
# A repository mounted at /repo usually belongs to another uid than 10001; git and libgit2 then refuse it
# ("dubious ownership") unless it is listed in safe.directory, read by both from /etc/gitconfig.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /home/tailjit --create-home tailjit \
 && git config --system --add safe.directory /repo
COPY --from=build /dist/ /tmp/dist/
RUN python -m venv /opt/tailjit \
 && /opt/tailjit/bin/pip install --no-cache-dir --disable-pip-version-check /tmp/dist/tailjit-*.whl \
 && rm -rf /tmp/dist
ENV PATH=/opt/tailjit/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /repo
# apply --watch finishes the write under way, then exits 0 on SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tailjit"]
CMD ["--backend", "tailscale", "apply", "--watch", "--pull"]
