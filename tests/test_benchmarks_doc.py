"""bench/report.py: docs/benchmarks.md is what the results files make, and every record's figures stand in a
row of their own with the machine, the date and the commit they were measured at."""

import json
import re

import pytest

from bench import report

STAMP = {"cpu": "Test CPU @ 3.10GHz", "cores": 2, "threads": 2, "gpu": None, "torch": "9.8.7", "commit": "abc1234",
         "time": "2031-02-03T04:05:06"}
MACHINE = "Test CPU @ 3.10GHz, 2 cores, 2 threads, torch 9.8.7"
MODEL = {"cell": "lstm", "layers": 2, "hidden_size": 256, "dropout": 0.1}
TRAIN = {"batch_size": 32, "seq_len": 64, "lr": 0.004, "precision": "fp32", "minutes": 2.5}


def quality_run(**fields) -> dict:
    """A record as bench.quality.run makes it (the fields the report reads)."""
    return {"minutes": 2.5, "corpus": "tinyshakespeare", "extra": [], "steps": 4321, "final_val_loss": 1.23456,
            "final_val_bpc": 1.78109, "best_val_loss": None, "model": MODEL, "train": TRAIN, "kind": "default",
            **fields}


# A record of each benchmark, shaped as its script saves it.
RECORDS = {
    "quality": [quality_run(), quality_run(kind="grid", extra=["--dropout=0"], steps=1234, final_val_loss=1.3,
                                         final_val_bpc=1.9)],
    "speed": [{"matmul_gflops": 812.3,
               "train": {"lstm 2x128": {"chars_per_s": 123456.0, "gflops": 50.1, "of_ceiling": 0.0617},
                         "lstm 2x256 bf16": {"chars_per_s": 200000.0, "speedup_over_fp32": 1.5}},
               "full_loop": {"chargen_chars_per_s": 90000.0, "bare_chars_per_s": 100000.0, "overhead": 0.11},
               "sample_b1_chars_per_s": 3000.0, "sample_b32_chars_per_s": 50000.0, "first_char_latency_ms": 12.3,
               "help_s": 0.081,
               "large_corpus": {"corpus_mb": 256.0, "chars": 268435456, "encode_mb_per_s": 150.0,
                                "encode_peak_rss_mb": 400.0, "train_peak_rss_mb": 500.0},
               "ngram_index": {"corpus_mb": 100.0, "chars": 104857600, "seconds": 20.5, "distinct_ngrams": 9000000,
                               "peak_rss_mb": 900.0}}],
    "gpu": [{"device": "Test GPU", "ceilings": {"bf16": 700.0, "tf32": 350.0, "fp32": 50.0}},
            {"device": "Test GPU", "throughput": [
                {"model": "2x256", "batch": 64, "seq": 64, "weights": 1000000, "fp32": 1e6, "tf32": 2e6, "bf16": 3e6,
                 "bf16_no_read": 3.2e6},
                {"model": "3x2048", "batch": 1024, "seq": 64, "weights": 90000000, "fp32": "OOM", "tf32": "OOM",
                 "bf16": "OOM", "bf16_no_read": 1e6}]},
            {"device": "Test GPU", "sampling": [
                {"model": "3x1024", "device": "cuda", "from_start_to_first_s": 1.2, "choice_ms": 3.0,
                 "ready_to_first_ms": 0.5, "path": "CudaStepModel", "chars_per_s": 9000.0},
                {"model": "3x1024", "step_us": {"StepModel": 1100.0, "CudaStepModel": 90.0}}]},
            {"device": "Test GPU", "quality": [
                {"minutes": 1.0, "val_loss": 1.5, "val_bpc": 2.164, "best_val_loss": 1.5, "steps": 1000, "wall_s": 70.0,
                 "model": MODEL, "train": TRAIN, "curve": []}]},
            {"device": "Test GPU", "grid": [
                {"of_minutes": 3.0, "extra": ["--layers", "3"], "val_loss": 1.4, "best_val_loss": 1.4, "steps": 900,
                 "wall_s": 100.0, "model": MODEL, "train": TRAIN}]}],
    "init": [{"cell": "lstm", "init": "torch", "steps": 1000, "lr": 0.002, "seed": 1,
              "val": [[250, 2.1], [1000, 1.6]]}],
    "items": [quality_run(corpus="first-names", extra=["--lines"], best_val_loss=1.9,
                          after={"train": 100, "val": 20, "new": 880, "examples": ["ann", "bo|b"]})],
    "finetune": [{"scratch": quality_run(best_val_loss=2.5), "fine_tuned": quality_run(best_val_loss=1.7),
                  "extra": []}],
    "distributed": [{"nproc": 2, "batch_per_process": 16, "steps": 200, "chars_per_s": 12345.6, "val_loss": 2.0}],
    "stability": [{"command": "chargen train tinyshakespeare.txt --minutes 10 --seed 1", "same_recipe": True,
                   "spread": 0.0042, "least_budget_used": 0.97,
                   "runs": [{"recipe": "lstm 2x384, dropout 0.1", "plan": plan, "probe": {"fp32": 21000.0},
                             "steps": 2500, "trained_s": 590.0, "budget_used": 0.983, "final_val_loss": 1.42}
                            for plan in ("measured", "kept")]}],
    "dynamic": [{"corpus": "tinyshakespeare", "minutes": 10, "steps": 2500, "static_bpc": 2.05, "dynamic_bpc": 1.95,
                 "dynamic_gain_nats": 0.07, "lr": 3e-4, "decay": 0.001, "seconds_per_mb": 400.0, "xz_bpc": 2.94,
                 "bz2_bpc": 2.63, "order2_bpc": 2.99, "fewer_bits_than_xz": 0.3}],
}


def write_results(folder, records: dict[str, list[dict]], stamp: dict = STAMP):
    folder.mkdir(exist_ok=True)
    for name, rs in records.items():
        (folder / f"{name}.json").write_text(json.dumps([{**stamp, **r} for r in rs]))
    return folder


def cells(line: str) -> list[str]:
    """A Markdown table row's cells, split where GitHub splits them: at each `|` not escaped."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def tables(page: str) -> list[list[list[str]]]:
    """Every table of a page: its rows (the header first, the delimiter row left out), each a list of cells."""
    found, current = [], None
    for line in page.splitlines():
        if line.startswith("|"):
            if current is None:
                current = []
                found.append(current)
            if not set(line) <= set("|-"):
                current.append(cells(line))
        else:
            current = None
    return found


def row_with(page: str, text: str) -> dict[str, str]:
    """The one table row holding a cell equal to `text`, as {header: cell}."""
    rows = [dict(zip(t[0], row)) for t in tables(page) for row in t[1:] if text in row]
    assert len(rows) == 1, f"{len(rows)} rows hold {text!r}"
    return rows[0]


def test_the_committed_page_is_what_the_committed_results_make():
    assert report.DOC.read_text(encoding="utf-8") == report.render(report.RESULTS), (
        "docs/benchmarks.md is stale: run `python -m bench.report`")


def test_a_records_figures_stand_in_its_row_with_its_machine_date_and_commit(tmp_path):
    page = report.render(write_results(tmp_path / "results", {"quality": RECORDS["quality"]}))
    row = row_with(page, "1.2346")  # every run
    assert (row["steps"], row["bpc"], row["run"], row["options"]) == ("4,321", "1.781", "default", "defaults")
    assert (row["commit"], row["machine"], row["date"]) == ("abc1234", MACHINE, "2031-02-03 04:05:06")
    assert row_with(page, "1.2346 (1.781)")["machine"] == MACHINE  # the defaults table, README's


def test_the_machine_says_whether_its_cpu_has_bf16_where_that_was_recorded():
    # Two CPUs of one name, one with bf16 and one without, get different recipes from the same budget.
    assert report.machine({**STAMP, "cpu_bf16": True}) == "Test CPU @ 3.10GHz, 2 cores, bf16, 2 threads, torch 9.8.7"
    assert "2 cores, no bf16, 2 threads" in report.machine({**STAMP, "cpu_bf16": False})
    assert report.machine({**STAMP, "cpu_bf16": None}) == report.machine(STAMP) == MACHINE


def test_a_record_without_the_stamps_says_they_were_not_recorded(tmp_path):
    old = quality_run(kind="baseline", commit="0ld0000")
    page = report.render(write_results(tmp_path / "results", {"quality": [old]}, stamp={}))
    row = row_with(page, "0ld0000")
    assert (row["machine"], row["date"]) == ("not recorded", "not recorded")
    assert "older checkout" in row["run"]


@pytest.mark.parametrize("name", RECORDS)
def test_each_benchmark_gets_its_own_tables_with_every_row_stamped(tmp_path, name):
    page = report.render(write_results(tmp_path / "results", {name: RECORDS[name]}))
    benchmark = report.BENCHMARKS[name]
    assert f"## {benchmark.title}: `{benchmark.command}`" in page
    assert "lack what bench/report.py reads" not in page  # not the fallback
    found = tables(page)
    assert found and all(row[-3:] == ["abc1234", MACHINE, "2031-02-03 04:05:06"] for t in found for row in t[1:])


def test_an_unknown_results_file_gets_a_table_of_its_scalar_fields(tmp_path):
    records = {"mystery": [{"alpha": 0.5, "label": "a|b\nc", "nested": {"x": 1}}], **RECORDS}
    page = report.render(write_results(tmp_path / "results", records))
    assert page.rstrip().splitlines()[0] == "# Benchmarks" and "## mystery: `bench/results/mystery.json`" in page
    assert page.index("## mystery") > page.index("## Several processes")  # after the known ones
    row = row_with(page, "0.5000")
    assert row == {"alpha": "0.5000", "label": r"a\|b c", "commit": "abc1234", "machine": MACHINE,
                   "date": "2031-02-03 04:05:06"}


def test_records_a_benchmark_no_longer_saves_so_still_get_a_table(tmp_path):
    page = report.render(write_results(tmp_path / "results", {"speed": [{"matmul_gflops": 812.3, "train": {"x": {}}}]}))
    assert "lack what bench/report.py reads" in page
    assert row_with(page, "812.3000")["commit"] == "abc1234"


def test_a_bar_in_a_record_does_not_break_its_row(tmp_path):
    page = report.render(write_results(tmp_path / "results", RECORDS))
    assert r"ann, bo\|b" in page
    for table in tables(page):
        assert all(len(row) == len(table[0]) for row in table)


def test_the_prose_has_no_figures_every_figure_is_in_a_table(tmp_path):
    pages = [report.render(write_results(tmp_path / "results", RECORDS)), report.DOC.read_text(encoding="utf-8")]
    prose = [line for page in pages for line in page.splitlines() if not line.startswith("|")]
    assert [line for line in prose if re.search(r"\d", line)] == []


def test_check_fails_on_a_stale_page_naming_the_command_that_rewrites_it(tmp_path, capsys):
    results, doc = write_results(tmp_path / "results", RECORDS), tmp_path / "benchmarks.md"
    assert report.main(["--check"], results, doc) == 1
    assert "python -m bench.report" in capsys.readouterr().err
    assert report.main([], results, doc) == 0 and report.main(["--check"], results, doc) == 0
    write_results(results, {"distributed": RECORDS["distributed"] * 2})
    assert report.main(["--check"], results, doc) == 1


def test_the_defaults_table_names_earlier_codes_best_where_the_defaults_code_has_no_grid():
    from bench import quality

    pinned = quality.recipe_options(quality_run())
    earlier = [quality_run(commit="0ld0000"),
               quality_run(kind="grid", commit="0ld0000", extra=["--input-dropout=0.1", *pinned], final_val_loss=1.2),
               quality_run(kind="grid", commit="0ld0000", extra=["--hidden-size=384"], final_val_loss=1.25)]
    row = quality.table([*earlier, quality_run(commit="abc1234", final_val_loss=1.21)]).splitlines()[-1]
    assert "| 1.2000 (--input-dropout=0.1, at 0ld0000) | +0.0100 |" in row  # the pinned recipe left out

    better_before = [*earlier, quality_run(commit="0ld0001", final_val_loss=1.19)]
    row = quality.table([*better_before, quality_run(commit="abc1234", final_val_loss=1.21)]).splitlines()[-1]
    assert "| 1.1900 (the default at 0ld0001) | +0.0200 |" in row  # a regression shows against the old default

    same_code = quality_run(kind="grid", commit="abc1234", extra=["--dropout=0"], final_val_loss=1.3)
    row = quality.table([*earlier, quality_run(commit="abc1234", final_val_loss=1.21), same_code]).splitlines()[-1]
    assert "| 1.3000 (--dropout=0) | +0.0000 |" in row  # the default's own grid, once it has one


def test_a_grid_keeps_the_passes_a_default_stopped_after_and_none_where_it_ran_its_budget():
    from bench.quality import grid

    capped = quality_run(train={**TRAIN, "epochs": 10.0})
    alternatives = grid(capped, 4)
    assert alternatives == [["--hidden-size=192", "--epochs=10"], ["--hidden-size=384", "--epochs=10"],
                            ["--dropout=0.2", "--epochs=10"], ["--dropout=0", "--epochs=10"]]
    assert grid(quality_run(), 2) == [["--hidden-size=192"], ["--hidden-size=384"]]
    narrowest = quality_run(model={**MODEL, "hidden_size": 128})
    assert grid(narrowest, 1, ["narrower", "wider"]) == [["--hidden-size=192"]]


def test_the_weight_decay_alternative_takes_the_recipes_decay_away_or_gives_one_where_it_has_none():
    from bench.quality import grid, recipe_options

    decayed = quality_run(train={**TRAIN, "weight_decay": 0.1})
    assert "--weight-decay=0.1" in recipe_options(decayed)
    (without,) = grid(decayed, 0, ["weight-decay"])
    assert without[-1] == "--weight-decay=0" and "--weight-decay=0.1" not in without
    (given,) = grid(quality_run(), 0, ["weight-decay"])
    assert given[-1] == "--weight-decay=0.1" and given[:-1] == recipe_options(quality_run())
