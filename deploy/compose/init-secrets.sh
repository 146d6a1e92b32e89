#!/usr/bin/env bash
# Make the files docker-compose.yml's Mosquitto needs and git does not hold:
#   deploy/compose/mosquitto/passwd   users twin, edge, bridge, harness, guest
#   deploy/compose/mosquitto/certs/   a development CA and a server certificate for 8883
# Passwords come from IIOT_MQTT_<USER>_PASSWORD (also read by docker-compose.yml from the
# environment or from .env), with the same development defaults as the compose file.
# Uses the local mosquitto_passwd if installed, else the eclipse-mosquitto image. Idempotent:
# the certificates are kept; the password file is rewritten from the current values.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
conf="$here/mosquitto"
users=(twin edge bridge harness guest)

passwd_cmd() {
    if command -v mosquitto_passwd >/dev/null; then
        mosquitto_passwd "$@"
    else
        docker run --rm --user "$(id -u):$(id -g)" -v "$conf:/mosquitto/config" eclipse-mosquitto:2 \
            mosquitto_passwd "${@/#$conf//mosquitto/config}"
    fi
}

rm -f "$conf/passwd"
: >"$conf/passwd"
for user in "${users[@]}"; do
    var="IIOT_MQTT_${user^^}_PASSWORD"
    passwd_cmd -b "$conf/passwd" "$user" "${!var:-$user-dev-password}"
done
chmod 644 "$conf/passwd"  # the broker runs as user mosquitto inside its container
echo "wrote $conf/passwd (${users[*]})"

certs="$conf/certs"
if [[ ! -f "$certs/server.crt" ]]; then
    mkdir -p "$certs"
    openssl ecparam -name prime256v1 -genkey -noout -out "$certs/ca.key"
    openssl req -x509 -new -key "$certs/ca.key" -sha256 -days 3650 -subj "/O=IIoT dev/CN=IIoT compose CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out "$certs/ca.crt"
    openssl ecparam -name prime256v1 -genkey -noout -out "$certs/server.key"
    openssl req -new -key "$certs/server.key" -subj "/O=IIoT dev/CN=mosquitto" -out "$certs/server.csr"
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" "subjectAltName=DNS:mosquitto,DNS:localhost,IP:127.0.0.1" \
        "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" >"$certs/server.ext"
    openssl x509 -req -in "$certs/server.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" -CAcreateserial \
        -days 825 -sha256 -extfile "$certs/server.ext" -out "$certs/server.crt"
    rm -f "$certs/server.csr" "$certs/server.ext"
    chmod 644 "$certs/server.key"  # readable by the container's mosquitto user; development only
    echo "wrote $certs (CA: $certs/ca.crt)"
fi
