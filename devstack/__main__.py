"""`python -m devstack start|stop|status|logs`: run Kafka and Redis locally."""

from __future__ import annotations

import argparse
import sys

from devstack.stack import LOG_DIR, ServiceError, all_services, start_all, status_all, stop_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "status", "logs"])
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            lines = start_all()
        elif args.action == "stop":
            lines = stop_all()
        elif args.action == "logs":
            lines = [f"== {s.name} ({s.log_file})\n{s.log_tail(40)}" for s in all_services()]
        else:
            lines = [
                f"{s.name:6} {s.address:16} {'healthy' if s.healthy else 'down':8} "
                f"pid={s.pid or '-'} log={s.log_file}"
                for s in status_all()
            ]
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    if args.action == "start":
        print(f"logs: {LOG_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
