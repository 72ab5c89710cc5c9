"""`warmstart server`: a local Prefect server (UI, API, scheduler) for schedules and deployments."""

import signal

from flows.cli import add_command

EXAMPLES = ["warmstart server                               # UI and API on http://127.0.0.1:4200",
            "warmstart server --port 4300 --log server.log  # then: warmstart schedule --serve"]


def register(sub) -> None:
    parser = add_command(sub, "server", "start a local Prefect server (UI + API, analytics off)", EXAMPLES)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: localhost only)")
    parser.add_argument("--port", type=int, default=4200, help="port of the UI and API (default 4200)")
    parser.add_argument("--home", help="folder of the server's database (default: $PREFECT_HOME, ~/.prefect)")
    parser.add_argument("--log", help="write the server's own log to this file")
    parser.set_defaults(handler=handle)


def stop_on_sigterm(*_) -> None:
    raise KeyboardInterrupt  # so `finally` stops the server child too


def handle(args) -> int:
    from flows.server import start_server

    log = open(args.log, "ab") if args.log else None
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    server = start_server(args.host, args.port, home=args.home, log=log)
    try:
        print(f"Prefect server running: UI {server.ui}  API {server.api}  (Ctrl-C stops it)", flush=True)
        print(f"in another shell: export PREFECT_API_URL={server.api}; warmstart schedule --serve", flush=True)
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if log:
            log.close()
    return 0
