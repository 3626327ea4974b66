#!/usr/bin/env bash
# Walks through docs/deploy.md on loopback and fails on the first step that does not work:
#
#   1. a fresh PostgreSQL database            5. nginx in front, TLS, with docs/nginx.conf
#   2. settings from the environment          6. liveness and readiness through the proxy
#   3. sovereval db upgrade                   7. a Ray cluster (head + worker node) running a
#   4. sovereval serve, 2 workers                benchmark job, then resuming it
#
# Everything it starts it stops (by process id, or by its private Ray folder), and it drops the
# database it created. Needs: the venv (make test), psql, curl, openssl; nginx and Ray optional
# (their steps are skipped, with the reason, when missing).
#
#   scripts/deploy_check.sh                 # uses .venv/bin/sovereval
#   SOVEREVAL_TEST_PG=postgresql://user@host:5432/postgres scripts/deploy_check.sh
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
SOVEREVAL=${SOVEREVAL:-$REPO/.venv/bin/sovereval}
RAY_CLI=${RAY_CLI:-$(dirname "$PY")/ray}
PG_ADMIN=${SOVEREVAL_TEST_PG:-postgresql://postgres@127.0.0.1:5432/postgres}
PG_ADMIN=${PG_ADMIN/postgresql+psycopg:/postgresql:}
WORK=$(mktemp -d -t svdeploy-XXXXXX)
DB="svdeploy_$(basename "$WORK" | tr -dc 'a-z0-9' | tail -c 8)"
SERVE_PID="" NGINX_PID="" RAY_PORT=""

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cleanup() {
    set +e
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
    # serve runs in its own session: end the supervisor and its uvicorn workers together
    [ -n "$SERVE_PID" ] && kill -- "-$SERVE_PID" 2>/dev/null
    if [ -n "$RAY_PORT" ]; then
        "$PY" -c "from sovereval.execution.localcluster import stop_cluster; stop_cluster('$WORK/ray', $RAY_PORT)"
    fi
    psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_http() {  # wait_http URL [curl options...]: up to 60 s for a 200
    local url=$1; shift
    for _ in $(seq 1 120); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")" = "200" ]; then return 0; fi
        sleep 0.5
    done
    fail "no 200 from $url within 60 s"
}

step "1. PostgreSQL: create database $DB"
psql "$PG_ADMIN" -qAtc "CREATE DATABASE \"$DB\"" || fail "cannot reach PostgreSQL at $PG_ADMIN"

step "2. settings from the environment"
export SOVEREVAL_DB="${PG_ADMIN%/*}/$DB"
export SOVEREVAL_DATA_DIR="$WORK/data"
export SOVEREVAL_SECRET_KEY
SOVEREVAL_SECRET_KEY=$(openssl rand -hex 32)
export SOVEREVAL_ACTOR="deploy-check"
"$SOVEREVAL" db url | grep -q "$DB" || fail "SOVEREVAL_DB is not the database in use"

step "3. sovereval db upgrade"
"$SOVEREVAL" db upgrade
REV=$(psql "$SOVEREVAL_DB" -qAtc "SELECT version_num FROM alembic_version")
[ -n "$REV" ] || fail "no Alembic revision recorded"
echo "schema at revision $REV"
"$SOVEREVAL" programme create "Deploy check" >/dev/null
"$SOVEREVAL" audit verify | tee "$WORK/verify.txt"

step "4. sovereval serve with 2 workers on loopback"
APP_PORT=$(free_port)
setsid "$SOVEREVAL" serve --host 127.0.0.1 --port "$APP_PORT" --workers 2 --proxy-headers \
    --secure-cookies --log-level info >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
wait_http "http://127.0.0.1:$APP_PORT/healthz"
WORKERS=$(pgrep -P "$SERVE_PID" -f "multiprocessing" | wc -l || true)
[ "$WORKERS" -ge 2 ] || fail "expected 2 uvicorn worker processes, found $WORKERS"
echo "serving on 127.0.0.1:$APP_PORT with $WORKERS workers"

step "5. nginx in front (docs/nginx.conf), TLS with a throw-away certificate"
if command -v nginx >/dev/null 2>&1; then
    NG="$WORK/nginx"
    mkdir -p "$NG/tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
        -keyout "$NG/privkey.pem" -out "$NG/fullchain.pem" >/dev/null 2>&1
    HTTP_PORT=$(free_port)
    HTTPS_PORT=$(free_port)
    sed -e "s#server 127.0.0.1:8000;#server 127.0.0.1:$APP_PORT;#" \
        -e "s#listen 80;#listen 127.0.0.1:$HTTP_PORT;#" \
        -e "s#listen 443 ssl;#listen 127.0.0.1:$HTTPS_PORT ssl;#" \
        -e "s#/etc/ssl/sovereval/#$NG/#" \
        "$REPO/docs/nginx.conf" >"$NG/sovereval.conf"
    USER_LINE=""
    [ "$(id -u)" = "0" ] && USER_LINE="user root;"
    cat >"$NG/nginx.conf" <<EOF
$USER_LINE
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 256; }
http {
    access_log $NG/access.log;
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    include $NG/sovereval.conf;
}
EOF
    nginx -p "$NG" -c "$NG/nginx.conf" -t -q || fail "nginx rejects docs/nginx.conf"
    nginx -p "$NG" -c "$NG/nginx.conf" -g 'daemon off;' &
    NGINX_PID=$!
    wait_http "https://127.0.0.1:$HTTPS_PORT/healthz" -k
    CODE=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/")
    [ "$CODE" = "301" ] || fail "plain HTTP should redirect to HTTPS, got $CODE"
    HEADERS=$(curl -sk -D - -o /dev/null "https://127.0.0.1:$HTTPS_PORT/")
    echo "$HEADERS" | grep -qi '^x-content-type-options: nosniff' \
        || fail "the app's security headers do not reach the client through nginx"
    echo "$HEADERS" | grep -qi '^server: .*nginx/' && fail "nginx announces its version"
    echo "proxy OK: https://127.0.0.1:$HTTPS_PORT -> 127.0.0.1:$APP_PORT (HTTP redirects, headers pass)"
    BASE="https://127.0.0.1:$HTTPS_PORT"
    CURL=(curl -sk)
else
    echo "skipped: nginx is not installed (apt-get install nginx-light)"
    BASE="http://127.0.0.1:$APP_PORT"
    CURL=(curl -s)
fi

step "6. liveness and readiness"
"${CURL[@]}" "$BASE/healthz" | grep -q '"ok"' || fail "/healthz does not answer ok"
READY=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$BASE/readyz")
case "$READY" in
    200) echo "/readyz: ready" ;;
    404) echo "warning: /readyz is not served yet (see docs/deploy.md, 'Health and readiness')" ;;
    *) fail "/readyz answered $READY" ;;
esac

step "7. Ray: head node + worker node, a sharded benchmark job, then its resume"
if [ -x "$RAY_CLI" ] && "$SOVEREVAL" jobs --help >/dev/null 2>&1; then
    RAY_PORT=$(free_port)
    mkdir -p "$WORK/ray"
    ray_ports() {
        echo --ray-client-server-port "$(free_port)" --dashboard-agent-listen-port "$(free_port)" \
            --dashboard-agent-grpc-port "$(free_port)" --metrics-export-port "$(free_port)" \
            --runtime-env-agent-port "$(free_port)"
    }
    # shellcheck disable=SC2046
    RAY_USAGE_STATS_ENABLED=0 "$RAY_CLI" start --head --port "$RAY_PORT" --node-ip-address 127.0.0.1 \
        --num-cpus 1 --include-dashboard=false --dashboard-port "$(free_port)" \
        --temp-dir "$WORK/ray" --disable-usage-stats $(ray_ports) >"$WORK/ray-head.log" 2>&1 \
        || fail "ray start --head failed: $(tail -2 "$WORK/ray-head.log")"
    # shellcheck disable=SC2046
    RAY_USAGE_STATS_ENABLED=0 "$RAY_CLI" start --address "127.0.0.1:$RAY_PORT" --node-ip-address 127.0.0.1 \
        --num-cpus 1 --temp-dir "$WORK/ray" --disable-usage-stats $(ray_ports) >"$WORK/ray-worker.log" 2>&1 \
        || fail "ray start --address failed: $(tail -2 "$WORK/ray-worker.log")"
    JOB=("$SOVEREVAL" jobs bench --suite example --model "mock:deploy?latency=0.02" --shard-size 2
         --executor ray --ray-address "127.0.0.1:$RAY_PORT" --json)
    "${JOB[@]}" 2>/dev/null >"$WORK/job1.json"
    "$PY" - "$WORK/job1.json" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["executor"]["nodes"] == 2, d["executor"]
assert d["executed"] == d["units"] > 0 and not d["failed"], d
print(f"job {d['job']}: {d['executed']} units on {d['executor']['nodes']} Ray nodes")
EOF
    "${JOB[@]}" 2>/dev/null >"$WORK/job2.json"
    "$PY" - "$WORK/job1.json" "$WORK/job2.json" <<'EOF'
import json, sys
a, b = (json.loads(open(p).read()) for p in sys.argv[1:3])
assert b["job"] == a["job"] and b["resumed"] == a["units"] and b["executed"] == 0, b
assert b["models"] == a["models"], "a resumed job must report the same results"
print(f"re-run resumed all {b['resumed']} units, ran none again")
EOF
    "$SOVEREVAL" jobs list
else
    echo "skipped: the ray CLI or 'sovereval jobs' is not installed (pip install 'sovereval[ray]')"
fi

printf '\ndeploy check passed\n'
