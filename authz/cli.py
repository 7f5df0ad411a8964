"""The ``authz`` command: a thin layer over the same factory and services as the HTTP API."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING

from authz import requestid
from authz.config import Settings

if TYPE_CHECKING:
    from authz.service.results import Done
    from authz.store.db import Database


def iso_day(value: str) -> date:
    """An ISO day given on the command line (argparse reports anything else as a usage error)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO day (YYYY-MM-DD): {value!r}") from None


def _settings() -> Settings:
    return Settings.from_env()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()  # read here too with --workers: a malformed setting stops the start, once, with its name
    # proxy_headers=False: uvicorn would otherwise take the client's address from X-Forwarded-For of any peer on
    # loopback; only authz.identity.client_address reads that header, and only from AUTHZ_TRUSTED_PROXIES.
    if args.workers > 1:
        # Every worker process is an instance of its own (SPEC §5): each loads and syncs its own decider. Each reads
        # the settings again from the environment, so a key generated here (AUTHZ_SECRET_KEY unset, warned about
        # once above) is handed to them there: otherwise every worker would make its own, and a CSRF token, a
        # half-login token or a second factor sealed by one would not open in another.
        if not os.environ.get("AUTHZ_SECRET_KEY"):
            os.environ["AUTHZ_SECRET_KEY"] = settings.secret_key
        # access_log=False in every worker too (uvicorn configures each one's logging from this): link tokens
        # travel in paths (/activeren/<token>), so no request line may reach the output.
        uvicorn.run("authz.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level="info", access_log=False, proxy_headers=False)
    else:
        from authz.app import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info", access_log=False,
                    proxy_headers=False)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from authz.store.migrate import safe_url, upgrade

    settings = _settings()
    upgrade(settings.database_url)
    print(f"database at the newest schema: {safe_url(settings.database_url)}")
    return 0


def _announced(change: Callable[[Database, str], Done], name: str) -> Done:
    """Run a use case on the database of the settings, then announce its revision to the running instances."""
    from authz.service.commit import announce_from_command
    from authz.store.db import Database

    settings = _settings()
    db = Database(settings.database_url)
    try:
        done = change(db, name)
    finally:
        db.dispose()
    announce_from_command(settings, done.revision)
    return done


def cmd_service_key_create(args: argparse.Namespace) -> int:
    from authz.service import keys

    done = _announced(keys.create, args.name)
    print(f"service client '{args.name}' created; the key is shown once, keep it safe:", file=sys.stderr)
    print(done.answer["key"])
    return 0


def cmd_service_key_revoke(args: argparse.Namespace) -> int:
    from authz.service import keys

    done = _announced(keys.revoke, args.name)
    print(f"the key of service client '{args.name}' is revoked (revision {done.revision})", file=sys.stderr)
    return 0


def cmd_operator_create(args: argparse.Namespace) -> int:
    from authz.service.accounts import create_operator
    from authz.store.db import Database

    if not args.password_stdin:
        print("give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    db = Database(_settings().database_url)
    try:
        create_operator(db, args.email, password)
    finally:
        db.dispose()
    print(f"operator {args.email.lower()} created")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from authz.demo import load_demo, load_synthetic
    from authz.store.db import Database

    settings = _settings()
    db = Database(settings.database_url)
    try:
        if args.grants:
            load_synthetic(db, args.grants, seed=args.seed)
        else:
            load_demo(db, settings)
    finally:
        db.dispose()
    return 0


def cmd_demo_code(args: argparse.Namespace) -> int:
    from authz.clock import Clock
    from authz.demo import demo_code

    print(demo_code(args.email, _settings(), Clock().now()))
    print("(demo accounts only: their second factors have fixed, public secrets; valid for about 30 s)",
          file=sys.stderr)
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    from authz import policy_tools

    handler = getattr(policy_tools, f"cmd_{args.policy_command}")
    result: int = handler(args, _settings())
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="authz", description="Access rights to data products (Mijn Gegevensdiensten).")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default=os.environ.get("AUTHZ_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("AUTHZ_PORT", "8000")))
    serve.add_argument("--workers", type=int, default=1, help="worker processes; each is an instance")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="migrate the database to the newest schema").set_defaults(func=cmd_db_upgrade)

    demo = sub.add_parser("demo", help="load demo organisations, products, contracts, a mandate and accounts")
    demo.add_argument("--grants", type=int, default=0, help="instead: add synthetic data up to N grants")
    demo.add_argument("--seed", type=int, default=1)
    demo.set_defaults(func=cmd_demo)
    demo_sub = demo.add_subparsers(dest="demo_command")
    code = demo_sub.add_parser("code", help="print the current second-factor code of a demo account (R17; demo "
                                            "accounts only: it reads no database and knows no real secret)")
    code.add_argument("email", help="a demo account's e-mail, as `authz demo` prints them")
    code.set_defaults(func=cmd_demo_code)

    op = sub.add_parser("operator", help="operator accounts").add_subparsers(dest="op_command", required=True)
    create = op.add_parser("create", help="create an operator account")
    create.add_argument("email")
    create.add_argument("--password-stdin", action="store_true")
    create.set_defaults(func=cmd_operator_create)

    sk = sub.add_parser("service-key", help="API keys of service clients").add_subparsers(
        dest="sk_command", required=True)
    skc = sk.add_parser("create", help="create a key; prints it once, as the last line")
    skc.add_argument("name")
    skc.set_defaults(func=cmd_service_key_create)
    skr = sk.add_parser("revoke", help="revoke a client's key: every instance refuses it from the next revision")
    skr.add_argument("name")
    skr.set_defaults(func=cmd_service_key_revoke)

    pol = sub.add_parser("policy", help="the policy as files").add_subparsers(dest="policy_command", required=True)
    pt = pol.add_parser("test", help="run the YAML decision tables against policy.conf")
    pt.add_argument("dirs", nargs="*")
    pt.set_defaults(func=cmd_policy)
    pe = pol.add_parser("export", help="the policy as a deterministic YAML file (stdout or -o FILE)")
    pe.add_argument("--org", help="only what concerns this organisation (KvK number)")
    pe.add_argument("--at", help="as it was then, from the audit trail: a DATE (as the day closed) or an instant")
    pe.add_argument("-o", "--output", help="write to this file instead of standard output")
    pe.set_defaults(func=cmd_policy)
    pi = pol.add_parser("import", help="make the database hold a policy file (one transaction; R1-R4 checked)")
    pi.add_argument("file")
    pi.add_argument("--dry-run", action="store_true", help="show the changes, import nothing")
    pi.set_defaults(func=cmd_policy)
    pl = pol.add_parser("lint", help="what in the policy needs a human; exit 1 on findings of --severity or worse")
    pl.add_argument("--severity", choices=("info", "warning", "error"), default="warning")
    pl.add_argument("--json", action="store_true")
    pl.add_argument("--today", type=iso_day, help="the day to lint for (ISO date; default today in Europe/Amsterdam)")
    pl.set_defaults(func=cmd_policy)
    pd = pol.add_parser("diff", help="who gains or loses which product for which afnemer between two policy files")
    pd.add_argument("old")
    pd.add_argument("new")
    pd.add_argument("--day", type=iso_day, help="the day to evaluate R1 on (ISO date; default today)")
    pd.add_argument("--json", action="store_true")
    pd.set_defaults(func=cmd_policy)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    if not logging.getLogger().handlers:  # as basicConfig: a process that set up logging keeps its own
        logging.basicConfig(level=os.environ.get("AUTHZ_LOG_LEVEL", "INFO"), format=requestid.FORMAT)
        requestid.install(logging.getLogger().handlers)  # each line names the request that caused it
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    from authz.config import SettingsError
    from authz.errors import AuthzError

    try:
        code: int = args.func(args)
    except AuthzError as exc:
        print(f"authz: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    except SettingsError as exc:
        print(f"authz: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
