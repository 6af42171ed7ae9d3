# Sourced by deploy/install-branch and deploy/install-central: the steps both roles share. Every step is safe to
# run again: what exists is kept (the env file and its secrets, the users and their passwords, the database).
#
# ECOMARKET_ROOT (empty in production) puts every file the install writes under a scratch folder instead of /, and
# leaves systemctl and the real nginx alone: ecomarket/tests/test_install.py runs the installers that way.
set -eu

APP=$(cd "$(dirname "$0")/.." && pwd)
R=${ECOMARKET_ROOT:-}
SERVICE_USER=${ECOMARKET_USER:-ecomarket}
# Debian's own (3.11 on Debian 12, 3.13 on Debian 13): the service user cannot reach a Python under /root.
PYTHON=${ECOMARKET_PYTHON:-/usr/bin/python3}

say() { printf '%s\n' "== $*"; }
die() {
    printf 'install: %s\n' "$*" >&2
    exit 1
}

# The files below name the production paths; under a scratch root every one of them moves there.
rooted() {
    if [ -n "$R" ]; then
        sed -i -e "s|/opt/ecomarket|$APP|g" -e "s|/etc/ecomarket|$R/etc/ecomarket|g" \
            -e "s|/var/lib/ecomarket|$R/var/lib/ecomarket|g" -e "s|/var/backups/ecomarket|$R/var/backups/ecomarket|g" \
            -e "s|/etc/ssl/ecomarket|$R/etc/ssl/ecomarket|g" -e "s|/usr/local/bin/ecomarket-manage|$R/usr/local/bin/ecomarket-manage|g" "$1"
    fi
}

systemctl_() {
    if [ -n "$R" ]; then
        say "(scratch root: not run) systemctl $*"
    else
        systemctl "$@"
    fi
}

# KEY=value in an env file, whatever the value holds.
set_key() {
    "$PYTHON" - "$1" "$2" "$3" <<'PY'
import re, sys
path, key, value = sys.argv[1:]
text = open(path).read()
text, found = re.subn(rf"^{re.escape(key)}=.*$", lambda _: f"{key}={value}", text, flags=re.MULTILINE)
open(path, "w").write(text if found else text + f"{key}={value}\n")
PY
}

get_key() { sed -n "s/^$2=//p" "$1" | tail -n 1; }

secret() { "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(int(__import__("sys").argv[1])))' "$1"; }

preflight() {
    if [ -z "$R" ]; then
        [ "$(id -u)" = 0 ] || die "run me as root (sudo $0 ...)"
        [ "$APP" = /opt/ecomarket ] || die "the units expect the code in /opt/ecomarket, not $APP"
    fi
    "$PYTHON" -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 14), sys.version' ||
        die "$PYTHON must be Python 3.11 to 3.13 (Debian 12: 3.11, Debian 13: 3.13)"
}

service_user() {
    if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/ecomarket --no-create-home --shell /usr/sbin/nologin \
            "$SERVICE_USER"
        say "made the system user $SERVICE_USER"
    fi
    SERVICE_GROUP=$(id -gn "$SERVICE_USER")
    # Configuration readable by the service, not by other users of the box; the state folder the service's own.
    install -d -m 755 "$R/etc" "$R/var/lib" "$R/etc/ssl"
    install -d -m 750 -o root -g "$SERVICE_GROUP" "$R/etc/ecomarket"
    install -d -m 750 -o "$SERVICE_USER" -g "$SERVICE_GROUP" "$R/var/lib/ecomarket"
    install -d -m 755 "$R/etc/ssl/ecomarket"
}

virtualenv() {
    [ -x "$APP/venv/bin/python" ] || "$PYTHON" -m venv "$APP/venv"
    say "installing requirements.txt (constrained by constraints.txt) into $APP/venv"
    "$APP/venv/bin/pip" install --quiet --disable-pip-version-check -r "$APP/requirements.txt" -c "$APP/constraints.txt"
}

# The env file from deploy/env/<role>.env, its secrets generated, once: a later run keeps the file as it is.
env_file() {
    ENV=$R/etc/ecomarket/ecomarket.env
    if [ -f "$ENV" ]; then
        say "kept $ENV (edit it by hand; the installer never overwrites it)"
        ENV_IS_NEW=
        return
    fi
    ENV_IS_NEW=1
    draft=$(mktemp)
    cp "$APP/deploy/env/$1.env" "$draft"
    rooted "$draft"
    set_key "$draft" SECRET_KEY "$(secret 50)"
    set_key "$draft" METRICS_TOKEN "${METRICS_TOKEN:-$(secret 32)}"
    shift
    while [ $# -gt 1 ]; do
        set_key "$draft" "$1" "$2"
        shift 2
    done
    # The operator's --set KEY=VALUE lines, one a line in $settings.
    printf '%s\n' "$settings" | while IFS= read -r setting; do
        [ -z "$setting" ] || set_key "$draft" "${setting%%=*}" "${setting#*=}"
    done
    install -m 640 -o root -g "$SERVICE_GROUP" "$draft" "$ENV"
    rm -f "$draft"
    say "wrote $ENV"
}

# The operator's certificate and key (from a public CA, or deploy/chain-ca), and the chain's CA when there is one.
tls() {
    site=$1 cert=$2 key=$3 ca=$4
    if [ -n "$cert" ]; then
        install -m 644 "$cert" "$R/etc/ssl/ecomarket/$site.crt"
        install -m 600 "$key" "$R/etc/ssl/ecomarket/$site.key"
    fi
    [ -z "$ca" ] || install -m 644 "$ca" "$R/etc/ssl/ecomarket/ca.crt"
    [ -f "$R/etc/ssl/ecomarket/$site.crt" ] && [ -f "$R/etc/ssl/ecomarket/$site.key" ] ||
        die "no certificate: give --cert and --key (from your CA, or made by deploy/chain-ca)"
}

# The site in sites-available, enabled instead of Debian's default one (which would answer for every name).
nginx_site() {
    site=$R/etc/nginx/sites-available/ecomarket
    install -d -m 755 "$R/etc/nginx/sites-available" "$R/etc/nginx/sites-enabled"
    install -m 644 "$APP/deploy/nginx/ecomarket-$1.conf" "$site"
    rooted "$site"
    sed -i "s|server_name .*;|server_name $2;|" "$site"
    ln -sfn ../sites-available/ecomarket "$R/etc/nginx/sites-enabled/ecomarket"
    rm -f "$R/etc/nginx/sites-enabled/default"
    if [ -z "$R" ]; then
        nginx -t
        systemctl reload-or-restart nginx
    fi
    say "nginx serves $site"
}

wrapper() {
    install -d -m 755 "$R/usr/local/bin"
    install -m 755 "$APP/deploy/ecomarket-manage" "$R/usr/local/bin/ecomarket-manage"
    rooted "$R/usr/local/bin/ecomarket-manage"
    sed -i "s|^SERVICE_USER=.*|SERVICE_USER=$SERVICE_USER|" "$R/usr/local/bin/ecomarket-manage"
    MANAGE=$R/usr/local/bin/ecomarket-manage
}

units() {
    role=$1
    shift
    install -d -m 755 "$R/etc/systemd/system"
    for unit in "$APP/deploy/systemd/$role"/*.service "$APP/deploy/systemd/$role"/*.timer; do
        [ -e "$unit" ] || continue # a role without timers
        install -m 644 "$unit" "$R/etc/systemd/system/"
        rooted "$R/etc/systemd/system/$(basename "$unit")"
        [ "$SERVICE_USER" = ecomarket ] ||
            sed -i "s|^User=.*|User=$SERVICE_USER|; s|^Group=.*|Group=$SERVICE_GROUP|" \
                "$R/etc/systemd/system/$(basename "$unit")"
    done
    systemctl_ daemon-reload
}

# The migrate oneshot's own commands, as the service user, when there is no systemd to start it (a scratch root).
migrate() {
    if [ -z "$R" ]; then
        systemctl start ecomarket-migrate
    else
        sed -n 's|^ExecStart=[^ ]*/python manage.py ||p' "$R/etc/systemd/system/ecomarket-migrate.service" |
            while read -r command; do
                # shellcheck disable=SC2086 # the unit's own words
                "$MANAGE" $command -v 0
            done
    fi
}
