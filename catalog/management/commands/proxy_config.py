"""Write the nginx config of the proxy in front of gunicorn, rendered from the settings
(``animesite.proxy``). Compose's setup service runs it with the defaults below, which are the
compose stack's: nginx listening on 80 in the ``proxy`` container, gunicorn at ``web:8000``.

    python manage.py proxy_config --output /app/proxy/nginx.conf
    python manage.py proxy_config            # prints it
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from animesite.proxy import proxy_config_render, proxy_limits


class Command(BaseCommand):
    help = "Render the nginx proxy's config from the settings (request limits) and gunicorn.conf.py."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, default=None, help="File to write (default: print it).")
        parser.add_argument("--listen", default="80", help="nginx's listen address (default 80).")
        parser.add_argument("--upstream", default="web:8000", help="gunicorn's address (default web:8000).")
        parser.add_argument(
            "--runtime-dir", default="/var/cache/nginx", help="pid and temporary files (default /var/cache/nginx)."
        )
        parser.add_argument("--user", default="nginx", help="Worker processes' user (official image: nginx).")
        parser.add_argument("--access-log", default="/dev/stdout")
        parser.add_argument("--error-log", default="/dev/stderr")

    def handle(self, *args: object, **options: object) -> None:
        try:
            limits = proxy_limits()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        text = proxy_config_render(
            listen=str(options["listen"]),
            upstream=str(options["upstream"]),
            runtime_dir=str(options["runtime_dir"]),
            user=str(options["user"]),
            access_log=str(options["access_log"]),
            error_log=str(options["error_log"]),
            limits=limits,
        )
        output = options["output"]
        if output is None:
            self.stdout.write(text, ending="")
            return
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: nginx never reads half a file.
        partial = output.with_name(output.name + ".partial")
        partial.write_text(text)
        os.replace(partial, output)
        self.stdout.write(
            f"proxy config written to {output}: bodies up to {limits.max_body_bytes:,} bytes, "
            f"header {limits.header_timeout} s, body and send {limits.body_timeout}/{limits.send_timeout} s "
            f"between reads/writes, {limits.connections_per_address or 'unlimited'} connections per address, "
            f"upstream read {limits.upstream_read_timeout} s, keep-alive {limits.upstream_keepalive_timeout} s"
        )
