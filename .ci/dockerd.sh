# Start a private Docker engine (no systemd here) and export DOCKER_HOST; stop it by PID.
DOCKERD_DIR="${DOCKERD_DIR:-/tmp/unlearn-harness-dockerd}"

start_dockerd() {
    mkdir -p "$DOCKERD_DIR"
    export DOCKER_HOST="unix://$DOCKERD_DIR/docker.sock"
    if docker version >/dev/null 2>&1; then
        echo "dockerd: reusing the engine at $DOCKER_HOST"
        DOCKERD_STARTED_PID=""
        return
    fi
    dockerd --iptables=false --ip6tables=false --bridge=none \
        --data-root "$DOCKERD_DIR/data" --exec-root "$DOCKERD_DIR/exec" \
        --host "$DOCKER_HOST" --pidfile "$DOCKERD_DIR/docker.pid" \
        >"$DOCKERD_DIR/dockerd.log" 2>&1 &
    DOCKERD_STARTED_PID=$!
    for _ in $(seq 1 60); do
        docker version >/dev/null 2>&1 && { echo "dockerd: started (pid $DOCKERD_STARTED_PID)"; return; }
        sleep 1
    done
    echo "dockerd: did not answer within 60 s; log:" >&2
    tail -n 20 "$DOCKERD_DIR/dockerd.log" >&2
    return 1
}

stop_dockerd() {
    if [[ -n "${DOCKERD_STARTED_PID:-}" ]]; then
        kill "$DOCKERD_STARTED_PID" 2>/dev/null || true
        wait "$DOCKERD_STARTED_PID" 2>/dev/null || true
    fi
}
