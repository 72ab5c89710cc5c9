"""`warmstart report [--out DIR]`: an offline HTML page with PNG plots of what the lake holds."""

from flows.cli_args import add_command, add_lake_argument, runs_engines
from schemas import terminal

EXAMPLES = ["warmstart report                          # reports/latest/index.html",
            "warmstart report --out reports/round-2 --lake runs/lake"]


def register(sub) -> None:
    parser = add_command(sub, "report", "write an HTML page and PNG plots of difficulty, skills, lengths, splits, "
                         "losses and training curves", EXAMPLES)
    parser.add_argument("--out", default="reports/latest",
                        help="directory for index.html and the PNGs (default: reports/latest)")
    add_lake_argument(parser)
    runs_engines(parser)
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from flows.report import write_report  # matplotlib loads only when a report is made
    from schemas.lake import Lake

    report = write_report(Lake(args.lake), args.out)
    terminal.echo(f"report: {report.html} ({len(report.pngs)} plots)")
    for key, why in report.skipped.items():
        terminal.echo(f"  skipped {key}: {why}")
    return 0
