"""`warmstart report`: PNGs and an offline HTML page from a tiny hand-made lake; Chromium renders it.

The browser check needs Debian's `chromium` (apt-get install -y chromium) and is skipped without it.
"""

import re
import shutil
import subprocess
from datetime import datetime, timezone

import pytest

from flows.cli import main
from flows.report_panels import PANELS as PANEL_SPECS
from schemas.lake import Lake

PANELS = [spec.key for spec in PANEL_SPECS]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows() -> dict[str, list[dict]]:
    """A few rows in every table the report reads: two tasks, two sources, two skills."""
    prompts, generations, verdicts, stats = [], [], [], []
    for i in range(6):
        pid, task = f"p{i}", "countdown" if i % 2 else "arith"
        prompts.append({"prompt_id": pid, "source": f"src{i % 3}", "task": task, "prompt": f"q{i}",
                        "answer": str(i), "verifier": "exact", "metadata": "{}", "split_guard": "train"})
        n_correct = i % 5
        for k in range(4):
            gid = f"{pid}-g{k}"
            generations.append({"generation_id": gid, "prompt_id": pid, "model": "tiny", "sampling": "{}",
                                "sample_index": k, "response": "x" * (10 + 7 * k + i),
                                "n_tokens": 10 + 7 * k + i, "finish_reason": "stop"})
            verdicts.append({"generation_id": gid, "prompt_id": pid, "verifier": "exact", "extracted": "",
                             "correct": k < n_correct, "score": float(k < n_correct), "detail": ""})
        rate = min(n_correct, 4) / 4
        stats.append({"prompt_id": pid, "model": "tiny", "k": 4, "n_correct": min(n_correct, 4),
                      "pass_rate": rate, "ci_low": 0.0, "ci_high": 1.0, "mean_tokens": 20.0,
                      "difficulty_bucket": "unsolved" if rate == 0 else "solved" if rate == 1 else "medium"})
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    return {
        "prompts": prompts, "generations": generations, "verdicts": verdicts, "prompt_stats": stats,
        "skills": [{"skill_id": s, "name": s, "description": "", "origin": "seed"} for s in ("add", "plan")],
        "prompt_skills": [{"prompt_id": f"p{i}", "skill_id": "add" if i < 4 else "plan", "confidence": 1.0,
                           "origin": "tagger"} for i in range(6)],
        "skill_mix": [{"table_name": "sft_examples", "skill_id": s, "name": s, "missing": s == "add",
                       "n_before": n, "n_after": m, "share_before": n / 6, "share_after": m / 9}
                      for s, n, m in (("add", 4, 7), ("plan", 2, 2))],
        "splits": [{"split_name": name, "version": 1, "kind": kind, "table_name": table, "row_ids": ["p1"],
                    "n_rows": n, "filter": "", "created_at": now}
                   for name, kind, table, n in [("warmup", "sft", "sft_examples", 3),
                                                ("rl", "rl", "rl_prompts", 5)]],
        "filter_log": [{"record_id": f"p{i}", "table_name": "prompts", "step": step, "reason": reason}
                       for i, (step, reason) in enumerate([("dedup", "exact duplicate"),
                                                           ("dedup", "near duplicate"), ("length", "too long")])],
        "train_metrics": [{"run_id": run, "step": step, "metric": metric, "value": 1.0 / step + bias}
                          for run, bias in (("sft-a", 0.0), ("sft-b", 0.2)) for metric in ("loss", "lr")
                          for step in range(1, 6)],
    }


@pytest.fixture(scope="module")
def full_lake(tmp_path_factory):
    lake = Lake(tmp_path_factory.mktemp("report") / "lake")
    lake.commit(_rows(), run_id="r1")
    from schemas.tables import TABLES

    blank = dict.fromkeys(TABLES["loop_rounds"].schema.names)
    lake.commit({"loop_rounds": [{**blank, "loop_id": "l", "round": r, "status": "completed", "n_prompts": 10,
                                  "n_mined": r, "eval_pass_rate": score}
                                 for r, score in enumerate([0.2, 0.35, 0.5])]}, run_id="l")
    return lake


@pytest.fixture(scope="module")
def report_dir(full_lake, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "latest"
    assert main(["report", "--lake", str(full_lake.location), "--out", str(out)]) == 0
    return out


def test_every_panel_is_drawn_as_png_and_embedded(report_dir):
    page = (report_dir / "index.html").read_text(encoding="utf-8")
    for key in PANELS:
        png = report_dir / f"{key}.png"
        assert png.read_bytes().startswith(PNG_MAGIC), key
        assert f'id="{key}"' in page
    assert page.count('src="data:image/png;base64,') == len(PANELS)
    assert "Skipped" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "page must not need the network"


def test_tables_under_figures_show_lake_rows(report_dir):
    page = (report_dir / "index.html").read_text(encoding="utf-8")
    assert "exact duplicate" in page and "too long" in page  # filter_log reasons
    assert "warmup" in page and "<td>rl</td>" in page  # split names


def test_empty_lake_gives_notes_not_errors(tmp_path, capsys):
    lake = Lake(tmp_path / "lake")
    lake.ensure()
    out = tmp_path / "out"
    out.mkdir()
    (out / "splits.png").write_bytes(PNG_MAGIC)  # stale figure from an earlier run
    assert main(["report", "--lake", str(lake.location), "--out", str(out)]) == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("Skipped:") == len(PANELS)
    assert "table splits is empty" in page and "table loop_rounds is empty" in page
    assert not list(out.glob("*.png"))
    assert "skipped loop_rounds" in capsys.readouterr().out


def test_skills_panel_needs_tags(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.commit({"skills": _rows()["skills"]}, run_id="r1")
    out = tmp_path / "out"
    assert main(["report", "--lake", str(lake.location), "--out", str(out)]) == 0
    assert "table prompt_skills is empty" in (out / "index.html").read_text(encoding="utf-8")


def test_missing_lake_is_a_lake_error(tmp_path, capsys):
    assert main(["report", "--lake", str(tmp_path / "none"), "--out", str(tmp_path / "out")]) == 4
    assert "no lake at" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_loop_panel_adapts_to_the_loop_table_columns():
    import pyarrow as pa

    from flows.report_plots import NothingToPlot, plot_loop_rounds

    figure = plot_loop_rounds(pa.table({"step_name": ["a", "b"], "score": [0.1, 0.4]}))  # no round column
    assert [ax.get_title() for ax in figure.axes] == ["score"]
    with pytest.raises(NothingToPlot, match="no numeric columns"):
        plot_loop_rounds(pa.table({"round": [1, 2], "note": ["x", "y"]}))


def test_panel_sql_only_reads():
    for spec in PANEL_SPECS:
        assert re.match(r"\s*(SELECT|WITH)\b", spec.sql), spec.key


_IMAGE_PROBE = """<script>
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "image-widths";
  out.textContent = Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1).join(",");
  document.body.appendChild(out);
});
</script></body>"""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _run_chromium(browser: str, *args: str) -> str:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--virtual-time-budget=5000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (CI: apt-get install -y chromium)")
def test_page_renders_offline_in_chromium(report_dir, tmp_path):
    """Every <img> decodes to a real width in a headless browser, and the screenshot is not blank."""
    import numpy as np
    from matplotlib.image import imread

    browser = _chromium()
    page = (report_dir / "index.html").read_text(encoding="utf-8")
    probe = report_dir / "probe.html"
    probe.write_text(page.replace("</body>", _IMAGE_PROBE), encoding="utf-8")
    dom = _run_chromium(browser, "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="image-widths">([^<]*)</pre>', dom)
    assert found, "the probe script did not run"
    widths = [int(w) for w in found.group(1).split(",")]
    assert len(widths) == len(PANELS) and all(w > 100 for w in widths), widths

    shot = tmp_path / "shot.png"
    _run_chromium(browser, "--window-size=1200,1600", f"--screenshot={shot}",
                  (report_dir / "index.html").as_uri())
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1200)
    assert np.std(pixels) > 0.05, "screenshot is blank"
