"""``portal sandbox`` (and ``python -m stripe_sandbox``): run the Stripe sandbox."""

from __future__ import annotations

import click
from werkzeug.serving import make_server

from stripe_sandbox.app import DEFAULT_PORT, create_app


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--webhook", "webhook_url", metavar="URL",
              help="Register a webhook endpoint for all events at start.")
@click.option("--webhook-secret", metavar="WHSEC",
              help="Signing secret for --webhook (default: a new whsec_ secret, printed).")
@click.option("--public-url", metavar="URL",
              help="Base URL of the hosted checkout pages (default: the request's host).")
@click.option("--ach-settle-after", type=float, metavar="SECONDS",
              help="Resolve ACH debits by their test account number after SECONDS "
                   "(default: wait for the control API).")
def sandbox_command(host: str, port: int, webhook_url: str | None,
                    webhook_secret: str | None, public_url: str | None,
                    ach_settle_after: float | None) -> None:
    """Run the offline Stripe sandbox (API at /v1, checkout pages, /_sandbox controls)."""
    if webhook_secret and not webhook_url:
        raise click.UsageError("--webhook-secret needs --webhook URL.")
    if webhook_secret and not webhook_secret.startswith("whsec_"):
        raise click.UsageError("--webhook-secret must start with whsec_.")
    config = {"SANDBOX_PUBLIC_URL": public_url, "SANDBOX_ACH_SETTLE_AFTER": ach_settle_after}
    if webhook_url:
        config["SANDBOX_WEBHOOKS"] = [{"url": webhook_url, "secret": webhook_secret}]
    app = create_app(config)
    for endpoint in app.extensions["stripe_sandbox"].startup_endpoints:
        click.echo(f"Webhook endpoint {endpoint['id']} -> {endpoint['url']}")
        click.echo(f"Signing secret: {endpoint['secret']}")
    click.echo(f"Stripe sandbox on http://{host}:{port}  "
               f"(set STRIPE_API_BASE=http://{host}:{port}, any sk_test_ key)")
    server = make_server(host, port, app, threaded=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["stripe_sandbox"].stop()
