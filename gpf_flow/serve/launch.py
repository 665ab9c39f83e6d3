"""What ``gpf-flow serve`` settles before it listens: the address, the public URL, the SDK config.

Kept out of the command line so that the checks and the config file are library code (and tested
as such); the CLI only parses options and prints.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from gpf_flow.errors import GpfFlowError


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1): nothing else can connect."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url(host: str, port: int) -> str:
    """``http://host:port`` (IPv6 hosts bracketed)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def sdk_config_text(token_url: str, login: str, password: str, root_url: str, datastore: str) -> str:
    """A ``config.ini`` in the official SDK's format pointing at this server (docs/entrepot-api.md §1)."""

    def esc(value: str) -> str:  # the SDK reads it with ExtendedInterpolation
        return value.replace("$", "$$")

    return (
        "; written by gpf-flow serve: the official SDK (sdk_entrepot_gpf) and gpf-flow's\n"
        "; geoplateforme backend talk to the local server with it. It holds a password.\n"
        "[store_authentification]\n"
        f"token_url={esc(token_url)}\n"
        f"login={esc(login)}\n"
        f"password={esc(password)}\n"
        "\n[store_api]\n"
        f"root_url={esc(root_url)}\n"
        f"datastore={esc(datastore)}\n"
        "\n[upload]\nnb_sec_between_check_updates=1\n"
        "\n[processing_execution]\nnb_sec_between_check_updates=1\n"
    )


def write_sdk_config(path: Path, text: str) -> None:
    """Write the config file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")


def check_port_free(host: str, port: int) -> None:
    """Fail early, with a hint, when the address is taken (uvicorn would only log it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise GpfFlowError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="another server may be running there: stop it or pass another --port",
            ) from exc
