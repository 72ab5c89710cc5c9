"""`warmstart report [--out DIR]`: an offline HTML page with PNG plots of what the lake holds."""

from flows.cli import add_command, add_lake_argument

EXAMPLES = ["warmstart report                          # reports/latest/index.html",
            "warmstart report --out reports/round-2 --lake runs/lake"]


def register(sub) -> None:
    parser = add_command(sub, "report", "write an HTML page and PNG plots of difficulty, skills, lengths, splits, "
                         "losses and training curves", EXAMPLES)
    parser.add_argument("--out", default="reports/latest",
                        help="directory for index.html and the PNGs (default: reports/latest)")
    add_lake_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from flows.report import write_report  # matplotlib loads only when a report is made
    from schemas.lake import Lake

    report = write_report(Lake(args.lake), args.out)
    print(f"report: {report.html} ({len(report.pngs)} plots)")
    for key, why in report.skipped.items():
        print(f"  skipped {key}: {why}")
    return 0
