# Sourced by ./lab and ./test: creates .venv on first use and re-installs when pyproject changes.
# MOELAB_TORCH overrides the torch requirement (e.g. MOELAB_TORCH="torch" for a CUDA build).
set -e
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
torch_spec="${MOELAB_TORCH:-torch==2.13.0}"
# MOELAB_EXTRAS: the optional extras to install (./test asks for test,dask; a venv that
# already has more than asked for is kept as it is).
extras="${MOELAB_EXTRAS:-test}"
stamp_base="$(cat "$root/pyproject.toml" | sha1sum | cut -c1-12) $torch_spec"
stamp_have="$(cat "$venv/.moelab-stamp" 2>/dev/null || true)"
stamp_want="$stamp_base $extras"
case "$stamp_have" in
    "$stamp_base "*) have_extras=",${stamp_have#"$stamp_base "},"
        for e in ${extras//,/ }; do
            case "$have_extras" in *",$e,"*) ;; *) stamp_have="";; esac
        done
        [ -n "$stamp_have" ] && stamp_want="$stamp_have";;
esac
if [ ! -x "$venv/bin/python" ]; then
    echo "moelab: creating virtual environment in $venv" >&2
    python3 -m venv "$venv"
fi
if [ "$(cat "$venv/.moelab-stamp" 2>/dev/null)" != "$stamp_want" ]; then
    echo "moelab: installing dependencies ($torch_spec)" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "$torch_spec" 2>&1 | grep -v "^WARNING: Location" >&2 || true
    "$venv/bin/python" -c "import torch" || { echo "moelab: torch install failed ($torch_spec)" >&2; exit 1; }
    "$venv/bin/pip" install -q --disable-pip-version-check -e "$root[$extras]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
    "$venv/bin/python" -c "import moelab.cli" || { echo "moelab: install failed" >&2; exit 1; }
    echo "$stamp_want" > "$venv/.moelab-stamp"
fi
# The editable install's finder is appended to sys.meta_path, after the path finder, so a
# folder named moelab in the current directory (a notebook started beside the clone, ~/moelab)
# became a namespace package without moelab.open. This .pth (read after __editable__*.pth)
# puts the finder first.
pth="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/moelab-first.pth"
[ -f "$pth" ] || cp "$root/scripts/moelab-first.pth" "$pth"
# The CPU training kernels compile on first use (about a minute); do it here, once per
# change of their sources, so that no experiment waits for it.
kernels_want="$(cat "$root"/engine/cpu/*.py "$venv/.moelab-stamp" | sha1sum | cut -c1-12)"
if [ "$(cat "$venv/.moelab-kernels" 2>/dev/null)" != "$kernels_want" ]; then
    echo "moelab: compiling the CPU training kernels (once, about a minute)" >&2
    "$venv/bin/python" -m moelab.engine.cpu.warm || { echo "moelab: kernel compile failed" >&2; exit 1; }
    echo "$kernels_want" > "$venv/.moelab-kernels"
fi
