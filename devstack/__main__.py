"""`python -m devstack start|stop|status|logs|env [--secure]`: run Kafka and Redis locally."""

from __future__ import annotations

import argparse
import shlex
import sys

from devstack.stack import (
    LOG_DIR,
    SECURE_STATE_DIR,
    ServiceError,
    all_services,
    secure_env,
    start_all,
    status_all,
    stop_all,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "status", "logs", "env"])
    parser.add_argument(
        "--secure",
        action="store_true",
        help="the secured stack beside the plain one: Kafka SASL_SSL/SCRAM-SHA-512 on 127.0.0.1:9094, "
        "password Redis on 6380 (state, certificates and passwords in .devstack/secure)",
    )
    args = parser.parse_args(argv)
    if args.action == "env" and not args.secure:
        parser.error("env needs --secure (the plain stack needs no settings: the defaults point at it)")
    try:
        if args.action == "start":
            lines = start_all(args.secure)
        elif args.action == "stop":
            lines = stop_all(args.secure)
        elif args.action == "logs":
            lines = [f"== {s.name} ({s.log_file})\n{s.log_tail(40)}" for s in all_services(args.secure)]
        elif args.action == "env":
            lines = [f"export {name}={shlex.quote(value)}" for name, value in secure_env().items()]
        else:
            lines = [
                f"{s.name:6} {s.address:16} {'healthy' if s.healthy else 'down':8} "
                f"pid={s.pid or '-'} log={s.log_file}"
                for s in status_all(args.secure)
            ]
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    if args.action == "start":
        print(f"logs: {SECURE_STATE_DIR / 'logs' if args.secure else LOG_DIR}")
        if args.secure:
            print("worker settings (also: python -m devstack env --secure):")
            print("\n".join(f"  {name}={value}" for name, value in secure_env().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
