"""Fill in deploy/nginx.conf's placeholders and print the result.

    python scripts/render_nginx.py --listen 127.0.0.1:8080 --run-dir /tmp/nginx \\
        --upstream 127.0.0.1:8001 --upstream 127.0.0.1:8002 [--metrics-from 127.0.0.1]

Then: nginx -c <file> -p <run dir> (add -g 'daemon off;' to keep it in the foreground).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"


def render(listen: str, upstreams: list[str], run_dir: str, metrics_from: str) -> str:
    servers = "\n".join(
        f"        server {address} max_fails=1 fail_timeout=5s;" for address in upstreams
    )
    text = TEMPLATE.read_text(encoding="utf-8")
    for placeholder, value in {
        "@LISTEN@": listen,
        "@UPSTREAMS@": servers,
        "@RUN_DIR@": run_dir,
        "@METRICS_FROM@": metrics_from,
    }.items():
        text = text.replace(placeholder, value)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True)
    parser.add_argument("--upstream", action="append", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--metrics-from", default="127.0.0.1")
    args = parser.parse_args()
    sys.stdout.write(render(args.listen, args.upstream, args.run_dir, args.metrics_from))
    return 0


if __name__ == "__main__":
    sys.exit(main())
