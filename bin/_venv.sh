# Shared by bin/up and bin/test: make sure .venv exists and matches requirements.txt.
# Sourced, not run.

ensure_venv() {
  local py
  py=$(command -v python3.11 || command -v python3 || true)
  if [ -z "$py" ] || ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "tapebackup needs Python 3.11 (python3.11 or python3 on PATH)." >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    if ! "$py" -m venv .venv 2>/dev/null; then
      rm -rf .venv
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "Installing python3-venv (Debian splits venv out of python3)..."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        "$py" -m venv .venv
      else
        echo "Python's venv module is missing: run 'sudo apt-get install python3-venv' first." >&2
        exit 1
      fi
    fi
  fi
  # Reinstall only when requirements.txt changed since the last install.
  local stamp=.venv/.requirements.sha256
  local want
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing Python packages from requirements.txt..."
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
    echo "$want" > "$stamp"
  fi
}
