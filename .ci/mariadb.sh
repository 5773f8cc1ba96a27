#!/usr/bin/env bash
# Start a local MariaDB server with a throw-away test database, for tests/migrations/test_mysql.py.
# Prints the SQLAlchemy URL on success; prints nothing (and returns 1) when no server can be had,
# in which case those tests skip and the rest of the suite still runs on SQLite.
set -uo pipefail

have_server() { command -v mariadbd >/dev/null 2>&1 || command -v mysqld >/dev/null 2>&1; }

if ! have_server && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing mariadb-server for the MySQL tests" >&2
  (timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq mariadb-server) \
    >/dev/null 2>&1
fi
have_server || exit 1

if ! mysqladmin ping --silent >/dev/null 2>&1; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
  (mysqld_safe --user=mysql >/tmp/cryptolens-mariadb.log 2>&1 &)
  for _ in $(seq 1 30); do mysqladmin ping --silent >/dev/null 2>&1 && break; sleep 1; done
fi
mysqladmin ping --silent >/dev/null 2>&1 || exit 1

mysql -uroot >/dev/null 2>&1 <<'SQL' || exit 1
CREATE DATABASE IF NOT EXISTS cryptolens_test CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'cryptolens'@'127.0.0.1' IDENTIFIED BY 'cryptolens-test';
GRANT ALL ON cryptolens_test.* TO 'cryptolens'@'127.0.0.1';
SQL
echo "mysql+pymysql://cryptolens:cryptolens-test@127.0.0.1/cryptolens_test?charset=utf8mb4"
