#!/usr/bin/env bash
# Builds the sdist and the wheel (the wheel from the sdist, so both must be complete), installs
# the wheel -- core only, no extras -- into a fresh virtual environment in a temporary folder
# outside the checkout, and from there runs:
#
#   sovereval --version                      package version and database schema head
#   sovereval demo                           the demo's quickest real mode (DEMO_ARGS)
#   sovereval audit verify                   on the demo's database
#   sovereval bench run --suite example      the packaged suite, on the mock model
#   sovereval serve + GET /readyz            templates, static files and migrations load
#
# Passing proves the templates, static files, migrations, suites and examples are packaged and
# that the core install is enough for them. Everything it starts it stops by process id.
#
#   scripts/wheel_check.sh                   # builds with .venv/bin/python (needs `build`)
#   PY=python3 scripts/wheel_check.sh
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
# The demo's quickest mode that runs on the core install.
DEMO_ARGS=(--quick --json)  # the scripted round: the core install has no torch for the real one
WORK=$(mktemp -d -t svwheel-XXXXXX)
SERVE_PID=""

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
cleanup() {
    set +e
    [ -n "$SERVE_PID" ] && kill -- "-$SERVE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

step "build sdist and wheel"
"$PY" -m build --outdir "$WORK/dist" "$REPO" >"$WORK/build.log" 2>&1 \
    || { tail -n 30 "$WORK/build.log"; fail "python -m build"; }
ls -l "$WORK"/dist
WHEEL=$(ls "$WORK"/dist/*.whl)

step "install the wheel (core) into a fresh venv outside the checkout"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check "$WHEEL" >"$WORK/pip.log" 2>&1 \
    || { tail -n 30 "$WORK/pip.log"; fail "pip install the wheel"; }
cd "$WORK"
export PATH="$WORK/venv/bin:$PATH"
unset PYTHONPATH
SV="$WORK/venv/bin/sovereval"
"$WORK/venv/bin/python" - <<'EOF' || fail "the core install pulled a heavy stack"
import importlib.metadata as md
heavy = {"torch", "transformers", "ray", "playwright", "lm-eval", "lm_eval", "schemathesis",
         "pyarrow", "inspect-ai", "inspect_ai", "datasets"}
got = {d.metadata["Name"].lower() for d in md.distributions()} & heavy
print("heavy packages in the core install:", sorted(got) or "none")
raise SystemExit(1 if got else 0)
EOF

step "sovereval --version"
VERSION=$("$SV" --version)
echo "$VERSION"
WANT=$("$WORK/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("sovereval"))')
case "$VERSION" in
    "sovereval $WANT (database schema "*")") ;;
    *) fail "--version printed '$VERSION'" ;;
esac

step "sovereval demo ${DEMO_ARGS[*]}"
"$SV" --data-dir "$WORK/data" demo --out "$WORK/demo" "${DEMO_ARGS[@]}" >"$WORK/demo.out" \
    || { tail -n 30 "$WORK/demo.out"; fail "sovereval demo"; }
[ -s "$WORK/demo/transparency-report.html" ] || fail "the demo wrote no report"
"$SV" --db "$WORK/demo/demo.db" audit verify

step "sovereval bench run --suite example (packaged suite and items, mock model)"
"$SV" --db "$WORK/bench.db" --data-dir "$WORK/data" bench run --suite example --model mock: \
    --json >"$WORK/bench.out" || { tail -n 30 "$WORK/bench.out"; fail "bench run"; }
echo "example suite ran"

step "sovereval serve, then /readyz"
PORT=$("$WORK/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SOVEREVAL_DB="$WORK/serve.db" setsid "$SV" serve --host 127.0.0.1 --port "$PORT" \
    >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
READY=""
for _ in $(seq 1 120); do
    READY=$(curl -s "http://127.0.0.1:$PORT/readyz" || true)
    case "$READY" in *'"ready"'*) break ;; esac
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log"; fail "serve exited"; }
    sleep 0.5
done
case "$READY" in *'"ready"'*) echo "/readyz: $READY" ;; *) cat "$WORK/serve.log"; fail "/readyz: $READY" ;; esac
PAGE=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")
[ "$PAGE" = "200" ] || fail "/ answered $PAGE (templates or static files missing?)"
CSS=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/static/style.css")
[ "$CSS" = "200" ] || fail "/static/style.css answered $CSS (static files not packaged?)"
echo "/: $PAGE, /static/style.css: $CSS"

step "wheel check passed"
