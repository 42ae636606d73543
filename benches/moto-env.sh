# Sourced by the bench scripts: the tools at their pins, the trailwatch binary (a release build
# unless TRAILWATCH_BIN names one), and moto server on a free loopback port with the AWS
# environment pointing at it. Expects $work (a scratch directory); sets $tw, $port, $moto_pid.
# MOTO_ENV: extra environment for moto server (e.g. MOTO_IAM_LOAD_MANAGED_POLICIES=true).
deploy/tools.sh --demo
tw=${TRAILWATCH_BIN:-target/release/trailwatch}
if [ -z "${TRAILWATCH_BIN:-}" ]; then
    echo "== build (release; about 12 minutes the first time)"
    cargo build --release
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
env ${MOTO_ENV:-} moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.2; done
