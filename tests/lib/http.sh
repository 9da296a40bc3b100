# tests/lib/http.sh — a throw-away local HTTP(S) server for health checks:
# Debian's nginx-light (with its echo module, a dependency of the package)
# on free loopback ports, serving fixed status codes and bodies.
#
# Source it after tests/cli/lib.sh; it sources tests/lib/daemons.sh, which
# stops the server however the test ends. `http_start` starts it and sets:
#   HTTP_URL    http://127.0.0.1:PORT          HTTPS_URL  https://127.0.0.1:PORT2
#   HTTP_CA     the self-signed certificate the https port presents (for
#               CN and subjectAltName 127.0.0.1), to trust it explicitly
#   HTTP_TOKEN  the bearer token /auth wants (random per test)
#   HTTP_WWW    a directory served under /files/ (drop files there)
#   HTTP_DIR    the server's directory (config, logs: access.log keeps
#               the request headers the tests look at)
# What it serves (the same on both ports):
#   /ok        200 application/json {"status":"ok","checks":{"db":"up","cache":"up"},"version":3}
#   /degraded  503 application/json {"status":"degraded","checks":{"db":"down","cache":"up"}}
#   /text      200 text/plain "all systems go"
#   /redirect  302 to /ok
#   /method    200, the request's method as the body
#   /auth      200 "authorized" with header Authorization: Bearer $HTTP_TOKEN, else 401
#   /hang      accepts, reads the request, never answers (echo_sleep, an hour)
#   /files/    the files in $HTTP_WWW
# Nothing skips: a missing nginx or openssl fails the test.

: "${T:?tests/lib/http.sh must be sourced after tests/cli/lib.sh}"
. "$RUNE_SOURCE_DIR/tests/lib/daemons.sh"

HTTP_NGINX=${RUNE_NGINX:-/usr/sbin/nginx}
HTTP_ECHO_MODULE=${RUNE_NGINX_ECHO:-/usr/lib/nginx/modules/ngx_http_echo_module.so}

# _http_conf PORT SPORT — nginx.conf for the two ports.
_http_conf() {
    cat <<EOF
load_module $HTTP_ECHO_MODULE;
daemon on;
worker_processes 1;
pid $HTTP_DIR/nginx.pid;
error_log $HTTP_DIR/error.log info;
events { worker_connections 64; }
http {
    log_format probe '\$request_method \$uri \$status auth=[\$http_authorization] probe=[\$http_x_probe]';
    access_log $HTTP_DIR/access.log probe;
    client_body_temp_path $HTTP_DIR/tmp/body;
    proxy_temp_path $HTTP_DIR/tmp/proxy;
    fastcgi_temp_path $HTTP_DIR/tmp/fastcgi;
    uwsgi_temp_path $HTTP_DIR/tmp/uwsgi;
    scgi_temp_path $HTTP_DIR/tmp/scgi;
    default_type text/plain;
    server {
        listen 127.0.0.1:$1;
        include $HTTP_DIR/site.conf;
    }
    server {
        listen 127.0.0.1:$2 ssl;
        ssl_certificate $HTTP_DIR/cert.pem;
        ssl_certificate_key $HTTP_DIR/key.pem;
        include $HTTP_DIR/site.conf;
    }
}
EOF
}

_http_site() {
    cat <<EOF
location = /ok { default_type application/json;
    return 200 '{"status":"ok","checks":{"db":"up","cache":"up"},"version":3}'; }
location = /degraded { default_type application/json;
    return 503 '{"status":"degraded","checks":{"db":"down","cache":"up"}}'; }
location = /text { return 200 'all systems go'; }
location = /redirect { return 302 /ok; }
location = /method { return 200 '\$request_method'; }
location = /auth {
    if (\$http_authorization != 'Bearer $HTTP_TOKEN') { return 401 'unauthorized'; }
    return 200 'authorized';
}
location = /hang { echo_sleep 3600; echo 'too late'; }
location /files/ { alias $HTTP_WWW/; }
EOF
}

# http_start — starts the server (once per test); see the header.
http_start() {
    [ -n "${HTTP_URL:-}" ] && _svc_abort "http_start: the test's HTTP server already runs"
    svc_need "$HTTP_NGINX" nginx-light
    [ -f "$HTTP_ECHO_MODULE" ] ||
        _svc_abort "nginx's echo module is missing ($HTTP_ECHO_MODULE): install nginx-light (.ci/deps)"
    svc_need openssl openssl
    svc_ensure_user
    HTTP_DIR=$(svc_dir http)
    HTTP_WWW=$HTTP_DIR/www
    HTTP_TOKEN=tok-$RANDOM$RANDOM$RANDOM
    mkdir -p "$HTTP_DIR/tmp" "$HTTP_WWW"
    if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$HTTP_DIR/key.pem" -out "$HTTP_DIR/cert.pem" -days 2 -subj /CN=127.0.0.1 \
            -addext subjectAltName=IP:127.0.0.1 >"$HTTP_DIR/openssl.log" 2>&1; then
        cat "$HTTP_DIR/openssl.log" >&2
        _svc_abort "openssl could not make the test server's self-signed certificate"
    fi
    HTTP_CA=$HTTP_DIR/cert.pem
    _http_site >"$HTTP_DIR/site.conf"
    [ -n "$SVC_OSUSER" ] && chown -R "$SVC_OSUSER:" "$HTTP_DIR"
    chmod 755 "$HTTP_WWW"
    svc_register nginx "$HTTP_DIR/nginx.pid"
    local attempt port sport from
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        port=$(pick_port) && sport=$(pick_port) || _svc_abort "no free TCP port for nginx"
        [ "$port" = "$sport" ] && continue
        _http_conf "$port" "$sport" >"$HTTP_DIR/nginx.conf"
        from=$(( $( (wc -c <"$HTTP_DIR/error.log") 2>/dev/null || echo 0) + 1 ))
        if svc_as_user "$HTTP_NGINX" -p "$HTTP_DIR/" -c "$HTTP_DIR/nginx.conf" \
                -e "$HTTP_DIR/error.log" >"$HTTP_DIR/start.out" 2>&1 &&
                svc_wait_ready nginx "$port" "$HTTP_DIR/error.log" &&
                svc_wait_ready nginx "$sport" "$HTTP_DIR/error.log"; then
            HTTP_URL=http://127.0.0.1:$port
            HTTPS_URL=https://127.0.0.1:$sport
            return 0
        fi
        svc_stop nginx
        if cat "$HTTP_DIR/start.out" - 2>/dev/null < <(tail -c "+$from" "$HTTP_DIR/error.log" 2>/dev/null) |
                grep -q "Address already in use"; then
            echo "tests/lib/http.sh: port $port or $sport was taken; retrying (attempt $attempt)" >&2
            continue
        fi
        break
    done
    cat "$HTTP_DIR/start.out" >&2
    _svc_abort "nginx did not start (its output and log above)"
}

# http_stop — stops the server (it is stopped at exit anyway).
http_stop() {
    svc_stop nginx
}
